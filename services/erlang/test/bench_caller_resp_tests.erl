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
