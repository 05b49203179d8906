%% @doc The contract's operations (echo, diff, health), its limits, its errors and its
%% test hooks. Pure apart from reading settings: no transport knows how an op works, and
%% this module knows nothing about transports.
-module(bench_ops).

-export([init_settings/1, settings/0, run/2, safely/2, error_body/2, error_reply/2,
         health_body/0, diff/1, echo_text/1, diff_tokens/2, extra_work/0]).

-export_type([code/0, reply/0]).

-type code() :: bad_request | unknown_op | too_large | internal.
-type reply() :: {ok, iodata()} | {error, code(), binary()}.
-type settings() :: #{max_body_bytes := pos_integer(),
                      max_tokens := pos_integer(),
                      test_hooks := boolean(),
                      extra_work_us := non_neg_integer(),
                      health := binary()}.

-define(KEY, {?MODULE, settings}).
-define(FAULT_TOKEN, <<"__bench_fault__:internal">>).

%% @doc Stores the settings read once at start (limits and the environment's test hooks).
-spec init_settings(#{max_body_bytes := pos_integer(), max_tokens := pos_integer()}) -> ok.
init_settings(#{max_body_bytes := MaxBody, max_tokens := MaxTokens}) ->
    Settings = #{max_body_bytes => MaxBody,
                 max_tokens => MaxTokens,
                 test_hooks => os:getenv("BENCH_TEST_HOOKS") =:= "1",
                 extra_work_us => extra_work_from_env(),
                 health => jiffy:encode(#{service => <<"erlang">>,
                                          language => <<"Erlang">>,
                                          runtime => runtime_version(),
                                          ops => [<<"echo">>, <<"diff">>, <<"health">>]})},
    persistent_term:put(?KEY, Settings).

-spec settings() -> settings().
settings() ->
    persistent_term:get(?KEY).

%% @doc Runs one op on a raw body. Never raises: an unexpected error inside an op is
%% logged and answered `internal', so that the transport keeps serving.
-spec run(binary(), binary()) -> reply().
run(Op, Body) ->
    safely(Op, fun() -> dispatch(Op, Body) end).

%% @doc Runs `Fun' (an op); any exception is logged and becomes an `internal' error.
-spec safely(binary(), fun(() -> {ok, T} | {error, code(), binary()})) ->
          {ok, T} | {error, code(), binary()}.
safely(Op, Fun) ->
    try Fun()
    catch
        Class:Reason:Stack ->
            logger:error("op ~0p failed: ~0p:~0p ~0p", [Op, Class, Reason, Stack]),
            {error, internal, <<"internal error">>}
    end.

dispatch(<<"echo">>, Body) ->
    case byte_size(Body) > max_body() of
        true -> too_large_body();
        false -> extra_work(), {ok, Body}
    end;
dispatch(<<"diff">>, Body) ->
    diff(Body);
dispatch(<<"health">>, _Body) ->
    {ok, health_body()};
dispatch(Op, _Body) ->
    {error, unknown_op, iolist_to_binary([<<"unknown op: ">>, printable(Op)])}.

%% @doc The diff op on a raw body, checks in the contract's order: size, UTF-8, JSON,
%% shape, token limit. Raises on the internal-fault hook (when enabled).
-spec diff(binary()) -> reply().
diff(Body) ->
    case byte_size(Body) > max_body() of
        true ->
            too_large_body();
        false ->
            case bench_json:decode_diff(Body) of
                {ok, A, B} ->
                    case diff_tokens(A, B) of
                        {ok, Opcodes} -> {ok, bench_json:encode_opcodes(Opcodes)};
                        {error, _, _} = Error -> Error
                    end;
                {error, Message} ->
                    {error, bad_request, Message}
            end
    end.

%% @doc The diff op on decoded token lists (already checked to be lists of strings): the
%% token limit, the internal-fault hook (raises), the extra-work hook, difflib.
-spec diff_tokens([binary()], [binary()]) ->
          {ok, [bench_difflib:opcode()]} | {error, code(), binary()}.
diff_tokens(A, B) ->
    #{max_tokens := MaxTokens, test_hooks := Hooks} = settings(),
    case {length(A) + length(B), A} of
        {N, _} when N > MaxTokens ->
            {error, too_large,
             iolist_to_binary(io_lib:format("len(a) + len(b) = ~b tokens is over the "
                                            "limit of ~b", [N, MaxTokens]))};
        {_, [?FAULT_TOKEN]} when Hooks ->
            erlang:error({bench_fault_hook, internal});
        _ ->
            extra_work(),
            {ok, bench_difflib:opcodes(A, B)}
    end.

%% @doc The echo op on a text (a UTF-8 binary, as the celery transport receives it): the
%% size limit on its UTF-8 bytes, the extra-work hook.
-spec echo_text(binary()) -> {ok, binary()} | {error, code(), binary()}.
echo_text(Text) ->
    case byte_size(Text) > max_body() of
        true -> too_large_body();
        false -> extra_work(), {ok, Text}
    end.

%% @doc The JSON error object `{"error": code, "message": text}'.
-spec error_body(code(), binary()) -> binary().
error_body(Code, Message) ->
    jiffy:encode(#{error => atom_to_binary(Code), message => Message}).

%% @doc An error reply as a transport sends it: the code's name and the JSON body.
-spec error_reply(code(), binary()) -> {binary(), binary()}.
error_reply(Code, Message) ->
    {atom_to_binary(Code), error_body(Code, Message)}.

-spec health_body() -> binary().
health_body() ->
    maps:get(health, settings()).

%% @doc The BENCH_EXTRA_WORK_US hook: busy-spins that many microseconds of CPU.
-spec extra_work() -> ok.
extra_work() ->
    case maps:get(extra_work_us, settings()) of
        0 -> ok;
        Us -> spin(erlang:monotonic_time(microsecond) + Us)
    end.

spin(Deadline) ->
    case erlang:monotonic_time(microsecond) >= Deadline of
        true -> ok;
        false -> spin(Deadline)
    end.

max_body() ->
    maps:get(max_body_bytes, settings()).

too_large_body() ->
    {error, too_large,
     iolist_to_binary(io_lib:format("body is over the limit of ~b bytes", [max_body()]))}.

extra_work_from_env() ->
    case os:getenv("BENCH_EXTRA_WORK_US") of
        false -> 0;
        "" -> 0;
        Text ->
            case string:to_integer(Text) of
                {N, ""} when N >= 0 -> N;
                %% A malformed value is a configuration error: refuse to start.
                _ -> erlang:error({bad_env, "BENCH_EXTRA_WORK_US", Text})
            end
    end.

runtime_version() ->
    Version = case file:read_file(filename:join([code:root_dir(), "releases",
                                                 erlang:system_info(otp_release),
                                                 "OTP_VERSION"])) of
                  {ok, V} -> string:trim(V);
                  {error, _} -> list_to_binary(erlang:system_info(otp_release))
              end,
    iolist_to_binary(["Erlang/OTP ", Version, " erts-", erlang:system_info(version)]).

%% An op name echoed in a message: at most 64 bytes, non-printable bytes as `?'.
printable(Op) ->
    Short = binary:part(Op, 0, min(byte_size(Op), 64)),
    << <<(if C >= 32, C < 127 -> C; true -> $? end)>> || <<C>> <= Short >>.
