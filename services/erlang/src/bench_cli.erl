%% @doc The command line: `bin/bench-erlang <transport> --host H --port P
%% [--redis-url URL --queue Q --workers N --result-expires S --acceptors N
%% --max-body-bytes N --max-tokens N]'. Sets the application's environment, starts it, logs the effective
%% configuration. SIGTERM stops the node through init:stop/0 (OTP's default).
-module(bench_cli).

-export([main/0, parse/1]).

-define(USAGE, "usage: bench-erlang http|zmq|grpc|redis|celery --host H --port P "
               "[--redis-url URL] [--queue Q] [--workers N] [--result-expires S] "
               "[--acceptors N] "
               "[--max-body-bytes N] [--max-tokens N]\n"
               "       bench-erlang caller --master-host H --master-port P").

%% @doc Entry point (`erl -run bench_cli main -extra ARGS').
-spec main() -> ok | no_return().
main() ->
    case init:get_plain_arguments() of
        ["caller" | Args] -> caller(Args);
        Args -> serve(Args)
    end.

%% The caller mode: a Locust worker (bench_caller); never returns.
caller(Args) ->
    case caller_options(Args, #{}) of
        {ok, #{master_host := _, master_port := _} = Opts} ->
            {ok, _} = application:ensure_all_started(crypto),
            {ok, _} = application:ensure_all_started(eredis),
            bench_caller:main(Opts);
        {ok, _} ->
            usage("caller needs --master-host H --master-port P");
        {error, Message} ->
            usage(Message)
    end.

caller_options([], Acc) -> {ok, Acc};
caller_options(["--master-host", H | Rest], Acc) -> caller_options(Rest, Acc#{master_host => H});
caller_options(["--master-port", P | Rest], Acc) ->
    case string:to_integer(P) of
        {N, ""} when N > 0, N < 65536 -> caller_options(Rest, Acc#{master_port => N});
        _ -> {error, "--master-port needs a port number, got " ++ P}
    end;
caller_options([Opt | _], _Acc) ->
    {error, "unknown caller option or missing value: " ++ Opt}.

usage(Message) ->
    io:format(standard_error, "bench-erlang: ~s~n~s~n", [Message, ?USAGE]),
    halt(2).

serve(Args) ->
    case parse(Args) of
        {ok, Settings} ->
            %% One line per log event (supervisor and crash reports included), so that a
            %% log can be counted and grepped.
            ok = logger:update_formatter_config(default, #{single_line => true,
                                                           legacy_header => false}),
            ok = application:load(bench),
            [application:set_env(bench, K, V) || {K, V} <- maps:to_list(Settings)],
            case application:ensure_all_started(bench, permanent) of
                {ok, _} ->
                    log_config();
                {error, Reason} ->
                    io:format(standard_error, "bench-erlang: cannot start: ~0p~n", [Reason]),
                    halt(1)
            end;
        {error, Message} ->
            usage(Message)
    end.

%% @doc Parses the arguments into application environment settings.
-spec parse([string()]) -> {ok, map()} | {error, string()}.
parse([Transport | Rest]) when Transport =:= "http"; Transport =:= "zmq";
                               Transport =:= "grpc"; Transport =:= "redis";
                               Transport =:= "celery" ->
    T = list_to_atom(Transport),
    options(Rest, #{transport => T});
parse([Other | _]) ->
    {error, "unknown transport " ++ Other ++ " (http, zmq, grpc, redis or celery)"};
parse([]) ->
    {error, "missing transport"}.

options([], Acc) ->
    {ok, Acc};
options(["--host", H | Rest], Acc) -> options(Rest, Acc#{host => H});
options(["--port", P | Rest], Acc) -> int(port, P, Rest, Acc);
options(["--redis-url", U | Rest], Acc) -> options(Rest, Acc#{redis_url => U});
options(["--queue", Q | Rest], Acc) -> options(Rest, Acc#{queue => list_to_binary(Q)});
options(["--workers", N | Rest], Acc) -> int(redis_workers, N, Rest, Acc);
options(["--result-expires", S | Rest], Acc) -> int(result_expires, S, Rest, Acc);
options(["--acceptors", N | Rest], Acc) ->
    case int(zmq_acceptors, N, [], Acc) of
        {ok, Acc1} ->
            {ok, Acc2} = int(grpc_acceptors, N, [], Acc1),
            int(http_acceptors, N, Rest, Acc2);
        {error, _} = Error -> Error
    end;
options(["--max-body-bytes", N | Rest], Acc) -> int(max_body_bytes, N, Rest, Acc);
options(["--max-tokens", N | Rest], Acc) -> int(max_tokens, N, Rest, Acc);
options([Opt | _], _Acc) ->
    {error, "unknown option or missing value: " ++ Opt}.

int(Key, Text, Rest, Acc) ->
    case string:to_integer(Text) of
        {N, ""} when N > 0 -> options(Rest, Acc#{Key => N});
        _ -> {error, "--" ++ string:replace(atom_to_list(Key), "_", "-", all)
                     ++ " needs a positive integer, got " ++ Text}
    end.

log_config() ->
    Env = lists:sort([{K, V} || {K, V} <- application:get_all_env(bench), 
                                          K =/= included_applications]),
    Ops = bench_ops:settings(),
    io:format("bench-erlang: serving ~0p~n"
              "  config: ~0p~n"
              "  test_hooks=~0p extra_work_us=~0p~n"
              "  runtime: ~s; schedulers ~b/~b online, dirty cpu ~b~n"
              "  ERL_FLAGS=~s~n",
              [proplists:get_value(transport, Env), Env,
               maps:get(test_hooks, Ops), maps:get(extra_work_us, Ops),
               maps:get(<<"runtime">>, jiffy:decode(bench_ops:health_body(), [return_maps])),
               erlang:system_info(schedulers_online), erlang:system_info(schedulers),
               erlang:system_info(dirty_cpu_schedulers_online),
               case os:getenv("ERL_FLAGS") of false -> ""; F -> F end]).
