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
