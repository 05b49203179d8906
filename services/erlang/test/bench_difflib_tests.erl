%% @doc The difflib port against every diff vector of contract/vectors/diff.json
%% (generated from CPython's difflib), plus matching blocks on small cases.
-module(bench_difflib_tests).
-include_lib("eunit/include/eunit.hrl").

vectors_test_() ->
    [{binary_to_list(Name), ?_assertEqual(expected(Ops), bench_difflib:opcodes(A, B))}
     || #{<<"name">> := Name, <<"a">> := A, <<"b">> := B, <<"opcodes">> := Ops}
            <- bench_vectors:load("diff")].

expected(Ops) ->
    [{binary_to_existing_atom(Tag), I1, I2, J1, J2} || [Tag, I1, I2, J1, J2] <- Ops].

vector_count_test() ->
    ?assertEqual(95, length(bench_vectors:load("diff"))).

%% SequenceMatcher(None, "abxcd", "abcd").get_matching_blocks()
matching_blocks_test() ->
    ?assertEqual([{0, 0, 2}, {3, 2, 2}, {5, 4, 0}],
                 bench_difflib:matching_blocks(toks("abxcd"), toks("abcd"))).

%% find_longest_match's tie-breaking: the earliest i, then the earliest j.
tie_breaking_test() ->
    %% SequenceMatcher(None, "ab", "ba").get_opcodes()
    ?assertEqual([{insert, 0, 0, 0, 1}, {equal, 0, 1, 1, 2}, {delete, 1, 2, 2, 2}],
                 bench_difflib:opcodes(toks("ab"), toks("ba"))).

%% Popular tokens (len(b) >= 200) are no anchors, yet a match is extended over them:
%% SequenceMatcher(None, ["x"] + ["p"]*5, ["x"] + ["p"]*299).get_opcodes()
popular_extension_test() ->
    A = [<<"x">> | lists:duplicate(5, <<"p">>)],
    B = [<<"x">> | lists:duplicate(299, <<"p">>)],
    ?assertEqual([{equal, 0, 6, 0, 6}, {insert, 6, 6, 6, 300}], bench_difflib:opcodes(A, B)).

%% Tokens are whole code point sequences: no normalisation.
unicode_tokens_test() ->
    ?assertEqual([{replace, 0, 1, 0, 1}],
                 bench_difflib:opcodes([<<"é"/utf8>>], [<<"e", 16#301/utf8>>])).

%% 5000 tokens in milliseconds, not seconds.
performance_test() ->
    A = [integer_to_binary(I rem 997) || I <- lists:seq(1, 5000)],
    B = [integer_to_binary(I rem 991) || I <- lists:seq(1, 5000)],
    {Us, _} = timer:tc(bench_difflib, opcodes, [A, B]),
    ?assert(Us < 2000000).

toks(String) -> [<<C>> || C <- String].
