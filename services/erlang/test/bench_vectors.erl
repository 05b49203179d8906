%% @doc Test helper: the shared vectors of contract/vectors/ (found by walking up from
%% this file and from the working directory), bodies decoded from their segments.
-module(bench_vectors).

-export([load/1, body/1, init_ops/1]).

-spec load(string()) -> [map()].
load(Kind) ->
    {ok, Json} = file:read_file(filename:join(dir(), Kind ++ ".json")),
    #{<<"vectors">> := Vectors} = jiffy:decode(Json, [return_maps]),
    Vectors.

-spec body([[binary() | integer()]]) -> binary().
body(Segments) ->
    iolist_to_binary([binary:copy(base64:decode(Seg), N) || [Seg, N] <- Segments]).

%% @doc bench_ops settings as the service has them by default, hooks on or off.
-spec init_ops(boolean()) -> ok.
init_ops(Hooks) ->
    case Hooks of
        true -> os:putenv("BENCH_TEST_HOOKS", "1");
        false -> os:unsetenv("BENCH_TEST_HOOKS")
    end,
    os:unsetenv("BENCH_EXTRA_WORK_US"),
    bench_ops:init_settings(#{max_body_bytes => 16777216, max_tokens => 100000}).

dir() ->
    {ok, Cwd} = file:get_cwd(),
    Starts = [filename:dirname(?FILE), Cwd],
    case [D || S <- Starts, D <- up(filename:absname(S)), filelib:is_dir(D)] of
        [Dir | _] -> Dir;
        [] -> error({vectors_not_found, Starts})
    end.

up("/") -> [];
up(Dir) -> [filename:join([Dir, "contract", "vectors"]) | up(filename:dirname(Dir))].
