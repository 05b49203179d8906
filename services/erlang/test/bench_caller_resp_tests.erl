%% The caller's RESP2 parser and command encoder (redis-server itself is exercised by the
%% cell runs and tests/test_callers.py).
-module(bench_caller_resp_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, bench_caller_resp).

parse_test_() ->
    [?_assertEqual({ok, 3, <<>>}, ?M:parse(<<":3\r\n">>)),
     ?_assertEqual({ok, <<"OK">>, <<"x">>}, ?M:parse(<<"+OK\r\nx">>)),
     ?_assertEqual({ok, {error, <<"ERR wrong">>}, <<>>}, ?M:parse(<<"-ERR wrong\r\n">>)),
     ?_assertEqual({ok, <<"a\r\nb">>, <<>>}, ?M:parse(<<"$4\r\na\r\nb\r\n">>)),
     ?_assertEqual({ok, <<>>, <<>>}, ?M:parse(<<"$0\r\n\r\n">>)),
     ?_assertEqual({ok, nil, <<>>}, ?M:parse(<<"$-1\r\n">>)),
     %% BRPOP's answers: [key, element] or the nil array of a timeout
     ?_assertEqual({ok, [<<"k">>, <<"ok 1\nhi">>], <<":1\r\n">>},
                   ?M:parse(<<"*2\r\n$1\r\nk\r\n$7\r\nok 1\nhi\r\n:1\r\n">>)),
     ?_assertEqual({ok, nil, <<>>}, ?M:parse(<<"*-1\r\n">>)),
     ?_assertEqual({ok, [], <<>>}, ?M:parse(<<"*0\r\n">>)),
     ?_assertEqual({error, {bad_resp_type, $!}}, ?M:parse(<<"!x\r\n">>)),
     ?_assertEqual({error, bad_bulk_string_end}, ?M:parse(<<"$1\r\nabc">>)),
     ?_assertMatch({error, {bad_resp_line, _}}, ?M:parse(<<":x\r\n">>))].

%% Every prefix of a complete value asks for more.
incomplete_test() ->
    Whole = <<"*2\r\n$1\r\nk\r\n$12\r\nerror 7\nbody\r\n">>,
    [?assertEqual(more, ?M:parse(binary:part(Whole, 0, N))) || N <- lists:seq(0, byte_size(Whole) - 1)],
    ?assertEqual({ok, [<<"k">>, <<"error 7\nbody">>], <<>>}, ?M:parse(Whole)).

command_test() ->
    ?assertEqual(<<"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$3\r\nabc\r\n">>,
                 iolist_to_binary(?M:command([<<"LPUSH">>, <<"q">>, [<<"a">>, <<"bc">>]]))).

%% -- against a real redis-server -------------------------------------------------------------

%% A redis-server of our own on a free port, for the duration of the tests.
redis_test_() ->
    case os:find_executable("redis-server") of
        false -> [];    % the manifest requires it; without it test/conformance.py fails loudly
        Exe ->
            {setup, fun() -> start_redis(Exe) end, fun stop_redis/1,
             fun({_, Url}) -> [fun() -> late_reply_is_skipped(Url) end,
                               fun() -> no_reply_is_a_timeout(Url) end] end}
    end.

start_redis(Exe) ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    P = open_port({spawn_executable, Exe},
                  [{args, ["--port", integer_to_list(Port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no"]}, exit_status, stderr_to_stdout]),
    Url = "redis://127.0.0.1:" ++ integer_to_list(Port) ++ "/0",
    wait_redis(Url, 50),
    {P, Url}.

wait_redis(Url, 0) -> error({redis_not_up, Url});
wait_redis(Url, N) ->
    case ?M:connect(Url, 200) of
        {ok, S} -> gen_tcp:close(S);
        {error, _} -> timer:sleep(100), wait_redis(Url, N - 1)
    end.

stop_redis({P, _}) ->
    {os_pid, Pid} = erlang:port_info(P, os_pid),
    os:cmd("kill " ++ integer_to_list(Pid)),
    receive {P, {exit_status, _}} -> ok after 2000 -> ok end.

config(Url, Queue, TimeoutS) ->
    #{<<"target">> => #{<<"transport">> => <<"redis">>, <<"redis_url">> => list_to_binary(Url),
                        <<"queue">> => Queue},
      <<"request">> => #{<<"op">> => <<"echo">>, <<"body">> => <<"hi">>},
      <<"timeout_s">> => TimeoutS}.

q(S, Cmd) ->
    ok = gen_tcp:send(S, ?M:command(Cmd)),
    {ok, Bin} = gen_tcp:recv(S, 0, 2000),
    {ok, V, <<>>} = ?M:parse(Bin),
    V.

%% A reply left on the user's reply key by an earlier request (one that timed out) is
%% skipped: the call returns its own reply, as the Python caller's redisq does.
late_reply_is_skipped(Url) ->
    Queue = <<"bench:test:late">>,
    {ok, S} = ?M:connect(Url, 1000),
    Key = iolist_to_binary([<<"bench.caller.erlang.">>, os:getpid(), <<".7">>]),
    1 = q(S, [<<"LPUSH">>, Key, <<"ok 41\nstale">>]),
    Responder = spawn_link(fun() ->
                                   {ok, R} = ?M:connect(Url, 1000),
                                   [Queue, Msg] = q(R, [<<"BRPOP">>, Queue, <<"5">>]),
                                   [Head, Body] = binary:split(Msg, <<"\n">>),
                                   [<<"echo">>, Id, ReplyKey] = binary:split(Head, <<" ">>, [global]),
                                   q(R, [<<"LPUSH">>, ReplyKey, [<<"ok ">>, Id, $\n, Body]])
                           end),
    C = bench_caller_client:open(config(Url, Queue, 2.0), 7),
    {Reply, C1} = bench_caller_client:call(C, erlang:monotonic_time(millisecond) + 2000),
    ?assertEqual({ok, ok, <<"hi">>}, Reply),
    ?assertEqual(0, q(S, [<<"LLEN">>, Key])),
    unlink(Responder),
    bench_caller_client:close(C1),
    gen_tcp:close(S).

no_reply_is_a_timeout(Url) ->
    C = bench_caller_client:open(config(Url, <<"bench:test:nobody">>, 0.3), 8),
    T0 = erlang:monotonic_time(millisecond),
    {Reply, _} = bench_caller_client:call(C, T0 + 300),
    ?assertEqual({error, timeout}, Reply),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 1500).
