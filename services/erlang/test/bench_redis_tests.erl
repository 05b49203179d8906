%% @doc The redis message header rules (the queue itself is tested end to end with a real
%% redis-server in test/conformance.py).
-module(bench_redis_tests).
-include_lib("eunit/include/eunit.hrl").

parse_test_() ->
    [?_assertEqual({ok, <<"echo">>, <<"id-1">>, <<"k">>, <<"body\nmore">>},
                   bench_redis:parse_header(<<"echo id-1 k\nbody\nmore">>)),
     ?_assertEqual({ok, <<"diff">>, <<"i">>, <<"k">>, <<>>},
                   bench_redis:parse_header(<<"diff i k\n">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"echo id k">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"echo  id k\nx">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<" echo id k\nx">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"echo id k \nx">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"echo id\nx">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"echo id k x\nx">>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<"échø id k\nx"/utf8>>)),
     ?_assertMatch({error, _}, bench_redis:parse_header(<<>>))].

newline_within_1024_bytes_test() ->
    Header = fun(N) -> <<"echo ", (binary:copy(<<"i">>, N - 8))/binary, " k\n">> end,
    ?assertEqual(1024, byte_size(Header(1024))),   % the \n is byte 1024: found
    ?assertMatch({ok, _, _, _, <<"b">>}, bench_redis:parse_header(<<(Header(1024))/binary, "b">>)),
    ?assertMatch({error, _}, bench_redis:parse_header(<<(Header(1025))/binary, "b">>)).

%% A lost broker connection costs a worker restart; the new worker backs off by itself.
backoff_test() ->
    Delays = lists:foldl(fun(_, [D | _] = Acc) -> [bench_redis:next_delay(D) | Acc] end,
                         [50], lists:seq(1, 7)),
    ?assertEqual([50, 100, 200, 400, 800, 1600, 2000, 2000], lists:reverse(Delays)).

%% Regression: 10 restarts in 10 s took the application (and the VM) down in the first
%% seconds of a broker outage; now a worker restart happens once per lost connection and
%% the supervisor tolerates 5 outages of every worker within its period.
intensity_test_() ->
    [?_assertEqual(10, bench_sup:intensity(http, #{})),
     ?_assertEqual(10, bench_sup:intensity(redis, #{redis_workers => 2})),
     ?_assertEqual(40, bench_sup:intensity(celery, #{redis_workers => 8}))].

answer_test_() ->
    {setup, fun() -> bench_ops:init_settings(#{max_body_bytes => 16777216, max_tokens => 100000}) end,
     fun(_) -> ok end,
     [?_assertEqual([[<<"LPUSH">>, <<"k">>, <<"ok 7\nhi">>], [<<"EXPIRE">>, <<"k">>, <<"60">>]],
                    bench_redis:answer(<<"echo 7 k\nhi">>, <<"q:dead">>)),
      ?_assertEqual([[<<"LPUSH">>, <<"q:dead">>, <<"no header">>]],
                    bench_redis:answer(<<"no header">>, <<"q:dead">>))]}.
