%% @doc What jiffy does with the inputs the contract names, and bench_json's answers.
-module(bench_json_tests).
-include_lib("eunit/include/eunit.hrl").

bad(Body) -> ?_assertMatch({error, _}, bench_json:decode_diff(Body)).

rejects_test_() ->
    [bad(<<"{\"a\": [\"\\ud800\"], \"b\": []}">>),              % lone high surrogate
     bad(<<"{\"a\": [], \"b\": [\"x\\udc00y\"]}">>),           % lone low surrogate
     bad(<<"{\"a\": [\"\\udc00\\ud800\"], \"b\": []}">>),      % reversed pair
     bad(<<"{\"a\": [\"", 16#ED, 16#A0, 16#80, "\"], \"b\": []}">>), % UTF-8-encoded surrogate
     bad(<<"{\"a\": [\"", 16#C0, 16#AF, "\"], \"b\": []}">>),  % overlong
     bad(<<"{\"a\": [\"", 16#FF, "\"], \"b\": []}">>),
     bad(<<"{\"a\": [], \"b\": []} x">>),                      % trailing garbage
     bad(<<"{\"a\": [1e400], \"b\": []}">>),                   % jiffy: {range, _}
     bad(<<"{\"a\": [100000000000000000000000000000], \"b\": []}">>), % bignum
     bad(<<>>),
     bad(<<"[]">>),
     bad(<<"{\"a\": []}">>),
     bad(<<"{\"a\": [[\"x\"]], \"b\": []}">>)].

deep_nesting_test() ->
    Deep = iolist_to_binary([<<"{\"a\": ">>, binary:copy(<<"[">>, 100000),
                             binary:copy(<<"]">>, 100000), <<", \"b\": []}">>]),
    ?assertMatch({error, _}, bench_json:decode_diff(Deep)),
    Unclosed = iolist_to_binary([<<"{\"a\": ">>, binary:copy(<<"[">>, 100000)]),
    ?assertMatch({error, _}, bench_json:decode_diff(Unclosed)).

accepts_test() ->
    ?assertEqual({ok, [<<"😀"/utf8>>, <<0>>], []},
                 bench_json:decode_diff(<<"{\"a\": [\"\\ud83d\\ude00\", \"\\u0000\"], \"b\": [],"
                                          " \"extra\": {\"x\": 1}}">>)).

duplicate_keys_last_wins_test() ->
    %% As Python's json: the last value of a repeated key.
    ?assertEqual({ok, [<<"y">>], []},
                 bench_json:decode_diff(<<"{\"a\": 1, \"a\": [\"y\"], \"b\": []}">>)).

encode_opcodes_test() ->
    ?assertEqual(<<"{\"opcodes\":[]}">>, iolist_to_binary(bench_json:encode_opcodes([]))),
    ?assertEqual(<<"{\"opcodes\":[[\"equal\",0,1,0,1],[\"insert\",1,1,1,3]]}">>,
                 iolist_to_binary(bench_json:encode_opcodes([{equal, 0, 1, 0, 1},
                                                             {insert, 1, 1, 1, 3}]))).

%% encode_string/2 writes what jiffy:encode/1 writes: for a string decoded from JSON without a
%% backslash (plain) and, by jiffy, for any other.
encode_string_test() ->
    rand:seed(exsss, {7, 8, 9}),
    Cases = [<<>>, <<"plain">>, <<"a\"b">>, <<"back\\slash">>, <<"tab\there">>, <<0, 1, 31, 32>>,
             <<"del", 127>>, <<"slash/ok">>, <<"h", 16#e9/utf8, "llo">>, <<16#2028/utf8, 16#2029/utf8>>,
             <<16#10FFFF/utf8, 16#FFFD/utf8>>, binary:copy(<<"0123456789abcdef">>, 4096)]
        ++ [unicode:characters_to_binary([rand:uniform(16#D7FF) || _ <- lists:seq(1, 200)])
            || _ <- lists:seq(1, 50)]
        ++ [<< <<(rand:uniform(128) - 1)>> || _ <- lists:seq(1, 300)>> || _ <- lists:seq(1, 50)],
    Plain = [begin
                 Json = iolist_to_binary(jiffy:encode([T])),
                 [Decoded] = jiffy:decode(Json),
                 IsPlain = binary:match(Json, <<"\\">>) =:= nomatch,
                 ?assertEqual({T, iolist_to_binary(jiffy:encode(T))},
                              {T, iolist_to_binary(bench_json:encode_string(Decoded, IsPlain))}),
                 IsPlain
             end || T <- Cases],
    %% both paths were taken
    ?assert(lists:member(true, Plain) andalso lists:member(false, Plain)).
