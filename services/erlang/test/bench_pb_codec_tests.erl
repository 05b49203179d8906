%% The protobuf codec against what Python's protobuf 7.36 (upb) does with the same bytes
%% (each case was run through bench_pb2.Blob/DiffRequest.FromString).
-module(bench_pb_codec_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, bench_pb_codec).

blob(Bin) -> ?M:decode_blob(Bin).

accepted_blobs_test_() ->
    [?_assertEqual({ok, <<"hi">>}, blob(<<16#0a, 2, "hi">>)),
     ?_assertEqual({ok, <<>>}, blob(<<>>)),
     %% the last data wins
     ?_assertEqual({ok, <<"b">>}, blob(<<16#0a, 1, "a", 16#0a, 1, "b">>)),
     %% field 1 with another wire type is an unknown field (upb): skipped
     ?_assertEqual({ok, <<>>}, blob(<<16#08, 1>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#09, 0:64>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#0d, 0:32>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#0b, 16#0c>>)),               % an empty group 1
     ?_assertEqual({ok, <<>>}, blob(<<16#0b, 16#0a, 1, 16#ff, 16#0c>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#1a, 1, "x">>)),              % unknown field 3
     ?_assertEqual({ok, <<>>}, blob(<<16#1b, 16#23, 16#24, 16#1c>>)), % nested groups
     ?_assertEqual({ok, <<>>}, blob(<<(binary:copy(<<16#1b>>, 100))/binary,
                                      (binary:copy(<<16#1c>>, 100))/binary>>)),
     %% a 10-byte varint, even with high bits past 64 in its last byte
     ?_assertEqual({ok, <<>>}, blob(<<16#18, (binary:copy(<<16#ff>>, 9))/binary, 16#7f>>)),
     %% tags: 5 bytes within 32 bits, non-minimal forms
     ?_assertEqual({ok, <<>>}, blob(<<16#f8, 16#ff, 16#ff, 16#ff, 16#0f, 0>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#88, 16#80, 16#80, 16#80, 16#00, 1>>)),
     ?_assertEqual({ok, <<>>}, blob(<<16#88, 16#00, 1>>)),
     %% a 5-byte length of 0
     ?_assertEqual({ok, <<>>}, blob(<<16#0a, 16#80, 16#80, 16#80, 16#80, 0>>))].

refused_blobs_test_() ->
    [?_assertMatch({error, {bad_protobuf, Why}}, blob(Bin)) || {Bin, Why} <-
        [{<<16#0c>>, unexpected_end_group},
         {<<16#0b, 16#14>>, mismatched_end_group},
         {<<16#80, 16#80, 16#80, 16#80, 16#80, 16#01>>, varint_too_long},       % tag: 6 bytes
         {<<16#88, 16#80, 16#80, 16#80, 16#80, 16#00, 1>>, varint_too_long},
         {<<16#88, 16#80, 16#80, 16#80, 16#10, 1>>, tag_too_wide},             % 33 bits
         {<<16#02, 0>>, field_number_zero},
         {<<16#0e>>, bad_wire_type},
         {<<16#0f>>, bad_wire_type},
         {<<16#18, (binary:copy(<<16#ff>>, 10))/binary, 1>>, varint_too_long},
         {<<16#18, 16#ff>>, truncated_varint},
         {<<16#1a, 16#ff, 16#ff, 16#ff, 16#ff, 16#0f>>, truncated_length_delimited},
         {<<16#1a, 16#80, 16#80, 16#80, 16#80, 16#08>>, truncated_length_delimited},
         {<<16#0a, 16#80, 16#80, 16#80, 16#80, 16#80, 0>>, varint_too_long},   % length: 6 bytes
         {<<16#0a, 16#7f, "short">>, truncated_length_delimited},
         {<<16#0d, 0, 0>>, truncated_fixed},
         {<<16#09, 0>>, truncated_fixed},
         {<<(binary:copy(<<16#1b>>, 101))/binary, (binary:copy(<<16#1c>>, 101))/binary>>,
          groups_too_deep}]].

diff_request_test_() ->
    D = fun ?M:decode_diff_request/1,
    [?_assertEqual({ok, [<<"a">>, <<"b">>], [<<"c">>]},
                   D(<<16#0a, 1, "a", 16#12, 1, "c", 16#0a, 1, "b">>)),
     ?_assertEqual({ok, [<<240, 159, 152, 128>>], []}, D(<<16#0a, 4, 240, 159, 152, 128>>)),
     ?_assertEqual({ok, [], []}, D(<<16#1a, 1, 16#ff>>)),        % unknown: not checked
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}}, D(<<16#0a, 2, 16#ed, 16#a0>>)),
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}}, D(<<16#0a, 3, 16#ed, 16#a0, 16#80>>)),
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}}, D(<<16#0a, 2, 16#c0, 16#af>>)),
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}}, D(<<16#12, 1, 16#ff>>)),
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}},
                   D(<<16#12, 9, "abcdefgh", 16#80>>)),
     ?_assertEqual({ok, [<<"x">>], [<<"y">>]},
                   D(?M:encode_diff_request([<<"x">>], [<<"y">>])))].

encode_test() ->
    ?assertEqual(<<16#0a, 2, "hi">>, iolist_to_binary(?M:encode_blob(<<"hi">>))),
    ?assertEqual(<<>>, iolist_to_binary(?M:encode_blob(<<>>))),
    %% The bytes Python's DiffReply(...).SerializeToString() gives for the same opcodes:
    %% zero fields omitted, a large index as a multi-byte varint.
    ?assertEqual(<<16#0a, 11, 16#0a, 5, "equal", 16#18, 1, 16#28, 1,
                   16#0a, 17, 16#0a, 7, "replace", 16#10, 1, 16#18, 2, 16#20, 1, 16#28, 2,
                   16#0a, 12, 16#0a, 6, "insert", 16#28, 16#a0, 16#8d, 16#06>>,
                 ?M:encode_diff_reply([{equal, 0, 1, 0, 1}, {<<"replace">>, 1, 2, 1, 2},
                                       {insert, 0, 0, 0, 100000}])).

%% The caller's side: the bytes Python's protobuf writes for
%% DiffReply(opcodes=[Opcode("equal", 0, 1, 0, 1), Opcode("replace", 1, 300, -1, 2)])
%% (zeros omitted, a two-byte varint, a negative int32 as ten bytes).
decode_diff_reply_test_() ->
    D = fun ?M:decode_diff_reply/1,
    Python = <<10, 11, 10, 5, "equal", 24, 1, 40, 1, 10, 27, 10, 7, "replace", 16, 1,
               24, 172, 2, 32, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 40, 2>>,
    [?_assertEqual({ok, [[<<"equal">>, 0, 1, 0, 1], [<<"replace">>, 1, 300, -1, 2]]}, D(Python)),
     ?_assertEqual({ok, []}, D(<<>>)),
     %% round trip of our own encoder, an unknown field inside an opcode skipped
     ?_assertEqual({ok, [[<<"insert">>, 0, 0, 0, 100000]]},
                   D(?M:encode_diff_reply([{insert, 0, 0, 0, 100000}]))),
     ?_assertEqual({ok, [[<<"delete">>, 1, 0, 0, 0]]},
                   D(<<10, 12, 16#30, 7, 10, 6, "delete", 16, 1>>)),
     ?_assertEqual({error, {bad_protobuf, truncated_length_delimited}}, D(<<10, 5, 10, 1>>)),
     ?_assertEqual({error, {bad_protobuf, invalid_utf8}}, D(<<10, 3, 10, 1, 255>>)),
     ?_assertEqual({error, {bad_protobuf, truncated_varint}}, D(<<10, 2, 16, 128>>))].
