%% HPACK (RFC 7541): the Appendix C examples byte for byte, the Huffman table against the
%% canonical code its lengths define, integers, size updates and malformed blocks.
-module(bench_hpack_codec_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, bench_hpack_codec).

hex(S) ->
    binary:decode_hex(list_to_binary([C || C <- S, C =/= $\s, C =/= $\n])).

%% Decodes each block of a sequence on one decoder, checking the header list, the table
%% (newest first) and its size after each step.
series(TableSize, Steps) ->
    lists:foldl(
      fun({Hex, Want, WantTable, WantSize}, D) ->
              {ok, Got, D1} = ?M:decode(hex(Hex), 1 bsl 20, D),
              ?assertEqual(Want, Got),
              ?assertEqual(WantTable, ?M:table_entries(D1)),
              ?assertEqual(WantSize, ?M:table_size(D1)),
              D1
      end, ?M:new_decoder(TableSize), Steps),
    ok.

-define(REQ1, [{<<":method">>, <<"GET">>}, {<<":scheme">>, <<"http">>},
               {<<":path">>, <<"/">>}, {<<":authority">>, <<"www.example.com">>}]).
-define(REQ2, ?REQ1 ++ [{<<"cache-control">>, <<"no-cache">>}]).
-define(REQ3, [{<<":method">>, <<"GET">>}, {<<":scheme">>, <<"https">>},
               {<<":path">>, <<"/index.html">>}, {<<":authority">>, <<"www.example.com">>},
               {<<"custom-key">>, <<"custom-value">>}]).
-define(AUTH, {<<":authority">>, <<"www.example.com">>}).
-define(CC, {<<"cache-control">>, <<"no-cache">>}).
-define(CUSTOM, {<<"custom-key">>, <<"custom-value">>}).

c2_1_literal_with_indexing_test() ->
    series(4096, [{"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                   [{<<"custom-key">>, <<"custom-header">>}],
                   [{<<"custom-key">>, <<"custom-header">>}], 55}]).

c2_2_literal_without_indexing_test() ->
    series(4096, [{"040c 2f73 616d 706c 652f 7061 7468", [{<<":path">>, <<"/sample/path">>}],
                   [], 0}]).

c2_3_never_indexed_test() ->
    series(4096, [{"1008 7061 7373 776f 7264 0673 6563 7265 74",
                   [{<<"password">>, <<"secret">>}], [], 0}]).

c2_4_indexed_test() ->
    series(4096, [{"82", [{<<":method">>, <<"GET">>}], [], 0}]).

c3_requests_plain_test() ->
    series(4096,
           [{"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", ?REQ1, [?AUTH], 57},
            {"8286 84be 5808 6e6f 2d63 6163 6865", ?REQ2, [?CC, ?AUTH], 110},
            {"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
             ?REQ3, [?CUSTOM, ?CC, ?AUTH], 164}]).

c4_requests_huffman_test() ->
    series(4096,
           [{"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", ?REQ1, [?AUTH], 57},
            {"8286 84be 5886 a8eb 1064 9cbf", ?REQ2, [?CC, ?AUTH], 110},
            {"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", ?REQ3,
             [?CUSTOM, ?CC, ?AUTH], 164}]).

-define(S302, {<<":status">>, <<"302">>}).
-define(S307, {<<":status">>, <<"307">>}).
-define(PRIV, {<<"cache-control">>, <<"private">>}).
-define(DATE1, {<<"date">>, <<"Mon, 21 Oct 2013 20:13:21 GMT">>}).
-define(DATE2, {<<"date">>, <<"Mon, 21 Oct 2013 20:13:22 GMT">>}).
-define(LOC, {<<"location">>, <<"https://www.example.com">>}).
-define(GZIP, {<<"content-encoding">>, <<"gzip">>}).
-define(COOKIE, {<<"set-cookie">>,
                 <<"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1">>}).

responses(Hex1, Hex2, Hex3) ->
    %% SETTINGS_HEADER_TABLE_SIZE 256: evictions happen.
    series(256,
           [{Hex1, [?S302, ?PRIV, ?DATE1, ?LOC], [?LOC, ?DATE1, ?PRIV, ?S302], 222},
            {Hex2, [?S307, ?PRIV, ?DATE1, ?LOC], [?S307, ?LOC, ?DATE1, ?PRIV], 222},
            {Hex3, [{<<":status">>, <<"200">>}, ?PRIV, ?DATE2, ?LOC, ?GZIP, ?COOKIE],
             [?COOKIE, ?GZIP, ?DATE2], 215}]).

c5_responses_plain_test() ->
    responses("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
               2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
               6c65 2e63 6f6d",
              "4803 3330 37c1 c0bf",
              "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
               54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
               5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
               3d31").

c6_responses_huffman_test() ->
    responses("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
               2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
              "4883 640e ffc1 c0bf",
              "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
               77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
               9587 3160 65c0 03ed 4ee5 b106 3d50 07").

%% The table transcribed from Appendix B is the canonical code of its lengths: codes of
%% one length are consecutive in symbol order, and each length's first code follows from
%% the previous one (Kraft's sum is exactly 1: no code is missing or doubled).
huffman_table_is_canonical_test() ->
    T = ?M:huffman_table(),
    ?assertEqual(257, length(T)),
    Sorted = lists:sort([{L, S} || {S, {_, L}} <- lists:zip(lists:seq(0, 256), T)]),
    {_, _, Expected} =
        lists:foldl(fun({L, S}, {Code, PrevLen, Acc}) ->
                            C = Code bsl (L - PrevLen),
                            {C + 1, L, Acc#{S => {C, L}}}
                    end, {0, 0, #{}}, Sorted),
    ?assertEqual(T, [maps:get(S, Expected) || S <- lists:seq(0, 256)]),
    ?assertEqual(1 bsl 30, lists:sum([1 bsl (30 - L) || {_, L} <- T])).

huffman_examples_test_() ->
    [?_assertEqual({ok, Plain}, ?M:huffman_decode(hex(Hex))) ||
        {Hex, Plain} <- [{"f1e3 c2e5 f23a 6ba0 ab90 f4ff", <<"www.example.com">>},
                         {"a8eb 1064 9cbf", <<"no-cache">>},
                         {"6402", <<"302">>},
                         {"9bd9 ab", <<"gzip">>},
                         {"", <<>>}]].

huffman_round_trip_test() ->
    All = list_to_binary(lists:seq(0, 255)),
    ?assertEqual(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), ?M:huffman_encode(<<"www.example.com">>)),
    ?assertEqual({ok, All}, ?M:huffman_decode(?M:huffman_encode(All))),
    [?assertEqual({ok, <<C>>}, ?M:huffman_decode(?M:huffman_encode(<<C>>)))
     || C <- lists:seq(0, 255)].

huffman_errors_test() ->
    %% 8 bits of padding (a whole byte of 1s) is too long; padding of 0s is not EOS.
    ?assertEqual({error, bad_huffman_padding}, ?M:huffman_decode(<<16#ff>>)),
    ?assertEqual({error, bad_huffman_padding}, ?M:huffman_decode(<<2#00011000>>)),
    %% EOS itself (30 ones) inside the string.
    ?assertEqual({error, huffman_eos}, ?M:huffman_decode(<<16#ff, 16#ff, 16#ff, 16#ff>>)).

integer_test() ->
    %% C.1: 10 and 1337 with a 5-bit prefix, 42 with 8 bits.
    ?assertEqual(<<2#01010>>, ?M:encode_int(10, 5, 0)),
    ?assertEqual(<<31, 154, 10>>, ?M:encode_int(1337, 5, 0)),
    ?assertEqual(<<42>>, ?M:encode_int(42, 8, 0)),
    ?assertEqual(<<16#3f, 0>>, ?M:encode_int(63, 6, 0)).

encode_round_trip_test() ->
    H = [{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>},
         {<<"grpc-status">>, <<"0">>}],
    Block = ?M:encode(H),
    ?assertEqual(<<16#08, 3, "200">>, binary:part(Block, 0, 5)),
    ?assertMatch({ok, H, _}, ?M:decode(Block, 4096, ?M:new_decoder(4096))),
    %% Without indexing: the decoder's table stays empty.
    {ok, _, D} = ?M:decode(Block, 4096, ?M:new_decoder(4096)),
    ?assertEqual(0, ?M:table_size(D)).

size_update_test() ->
    D0 = ?M:new_decoder(4096),
    {ok, _, D1} = ?M:decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
                            4096, D0),
    ?assertEqual(55, ?M:table_size(D1)),
    %% An update to 0 empties the table; then 4096 again is allowed (two updates in a row).
    {ok, [], D2} = ?M:decode(<<16#20>>, 4096, D1),
    ?assertEqual([], ?M:table_entries(D2)),
    ?assertMatch({ok, [{<<":method">>, <<"GET">>}], _}, ?M:decode(<<16#20, 16#3f, 16#e1, 16#1f, 16#82>>, 4096, D1)),
    %% Above the advertised size, or after a field: COMPRESSION_ERROR.
    ?assertEqual({error, {compression_error, size_update_too_large}},
                 ?M:decode(<<16#3f, 16#e2, 16#1f>>, 4096, D1)),
    ?assertEqual({error, {compression_error, size_update_not_first}},
                 ?M:decode(<<16#82, 16#20>>, 4096, D1)).

eviction_test() ->
    %% A 64-byte table holds one 33..64 byte entry; the next evicts it; a too large one
    %% empties the table.
    D0 = ?M:new_decoder(64),
    {ok, _, D1} = ?M:decode(<<16#40, 1, "a", 1, "b">>, 4096, D0),
    ?assertEqual([{<<"a">>, <<"b">>}], ?M:table_entries(D1)),
    {ok, _, D2} = ?M:decode(<<16#40, 1, "c", 1, "d">>, 4096, D1),
    ?assertEqual([{<<"c">>, <<"d">>}], ?M:table_entries(D2)),
    {ok, [{<<"x">>, _}], D3} = ?M:decode(<<16#40, 1, "x", 40, 0:320>>, 4096, D2),
    ?assertEqual([], ?M:table_entries(D3)),
    ?assertEqual(0, ?M:table_size(D3)).

malformed_test_() ->
    E = fun(Bin) -> ?M:decode(Bin, 4096, ?M:new_decoder(4096)) end,
    [?_assertEqual({error, {compression_error, index_zero}}, E(<<16#80>>)),
     ?_assertEqual({error, {compression_error, index_out_of_range}}, E(<<16#be>>)),
     ?_assertEqual({error, {compression_error, truncated_integer}}, E(<<16#ff>>)),
     ?_assertEqual({error, {compression_error, integer_overflow}},
                   E(<<16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#0f>>)),
     ?_assertEqual({error, {compression_error, truncated_string}}, E(<<16#40, 5, "ab">>)),
     ?_assertEqual({error, {compression_error, truncated_string}}, E(<<16#04>>)),
     ?_assertEqual({error, {compression_error, bad_huffman_padding}}, E(<<16#04, 16#81, 16#ff>>))].

header_list_limit_test() ->
    %% 61 indexed references to one 4000-byte entry: the list is refused, the table kept.
    D0 = ?M:new_decoder(4096),
    Big = binary:copy(<<"v">>, 4000),
    {ok, _, D1} = ?M:decode(<<16#40, 1, "k", (?M:encode_int(4000, 7, 0))/binary, Big/binary>>,
                            1 bsl 20, D0),
    ?assertEqual(1, length(?M:table_entries(D1))),
    ?assertMatch({too_large, _}, ?M:decode(binary:copy(<<16#be>>, 61), 16384, D1)),
    ?assertMatch({ok, [_], _}, ?M:decode(<<16#be>>, 16384, D1)).
