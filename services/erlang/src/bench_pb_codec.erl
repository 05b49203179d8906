%% @doc A pure protobuf codec for the messages of contract/bench.proto: Blob and
%% DiffRequest decoded, Blob and DiffReply encoded. It refuses what Python's protobuf
%% (upb) refuses, so that every service answers the same bytes the same way: a tag
%% varint longer than 5 bytes or wider than 32 bits, field number 0, wire types 6 and 7,
%% an end-group tag that closes no group, groups nested deeper than 100, truncated
%% varints, fixed fields or lengths, a length varint longer than 5 bytes, invalid UTF-8 in
%% a string field. Unknown fields (and known fields with another wire type, as upb does)
%% are skipped; the last `data' of a Blob wins, repeated strings accumulate.
-module(bench_pb_codec).

-export([decode_blob/1, decode_diff_request/1, decode_diff_reply/1, encode_blob/1,
         encode_diff_reply/1, encode_diff_request/2]).

-define(MAX_GROUP_DEPTH, 100).

-type error_reason() :: {bad_protobuf, atom()}.

%% @doc `Blob { bytes data = 1; }'.
-spec decode_blob(binary()) -> {ok, binary()} | {error, error_reason()}.
decode_blob(Bin) ->
    try {ok, blob(Bin, <<>>)}
    catch throw:{pb, Why} -> {error, {bad_protobuf, Why}}
    end.

blob(<<>>, Data) ->
    Data;
blob(Bin, Data) ->
    case field(Bin) of
        {1, 2, Value, Rest} -> blob(Rest, Value);
        {_, _, _, Rest} -> blob(Rest, Data)
    end.

%% @doc `DiffRequest { repeated string a = 1; repeated string b = 2; }'.
-spec decode_diff_request(binary()) -> {ok, [binary()], [binary()]} | {error, error_reason()}.
decode_diff_request(Bin) ->
    try diff_request(Bin, [], []) of
        {A, B} -> {ok, A, B}
    catch throw:{pb, Why} -> {error, {bad_protobuf, Why}}
    end.

diff_request(<<>>, A, B) ->
    {lists:reverse(A), lists:reverse(B)};
diff_request(Bin, A, B) ->
    case field(Bin) of
        {1, 2, Value, Rest} -> diff_request(Rest, [utf8(Value) | A], B);
        {2, 2, Value, Rest} -> diff_request(Rest, A, [utf8(Value) | B]);
        {_, _, _, Rest} -> diff_request(Rest, A, B)
    end.

%% @doc `DiffReply { repeated Opcode opcodes = 1; }', `Opcode { string tag = 1; int32 i1 =
%% 2; int32 i2 = 3; int32 j1 = 4; int32 j2 = 5; }' (the caller's side): each opcode as
%% `[Tag, I1, I2, J1, J2]', absent fields 0 or `<<>>', int32 read as two's complement.
-spec decode_diff_reply(binary()) ->
          {ok, [[binary() | integer()]]} | {error, error_reason()}.
decode_diff_reply(Bin) ->
    try {ok, diff_reply(Bin, [])}
    catch throw:{pb, Why} -> {error, {bad_protobuf, Why}}
    end.

diff_reply(<<>>, Acc) ->
    lists:reverse(Acc);
diff_reply(Bin, Acc) ->
    case field(Bin) of
        {1, 2, Value, Rest} -> diff_reply(Rest, [opcode_fields(Value, [<<>>, 0, 0, 0, 0]) | Acc]);
        {_, _, _, Rest} -> diff_reply(Rest, Acc)
    end.

opcode_fields(<<>>, Op) ->
    Op;
opcode_fields(Bin, [Tag | Ints] = Op) ->
    case tag(Bin) of
        {16#0a, _} ->
            {1, 2, Value, Rest} = field(Bin),
            opcode_fields(Rest, [utf8(Value) | Ints]);
        {T, Rest} when T band 7 =:= 0, T bsr 3 >= 2, T bsr 3 =< 5 ->
            {V, Rest1} = varint(Rest, 10),
            I = T bsr 3 - 1,
            opcode_fields(Rest1, [Tag | setnth(I, Ints, int32(V))]);
        _ ->
            {_, _, _, Rest} = field(Bin),
            opcode_fields(Rest, Op)
    end.

setnth(1, [_ | T], V) -> [V | T];
setnth(N, [H | T], V) -> [H | setnth(N - 1, T, V)].

%% An int32 field's varint: its low 32 bits, two's complement.
int32(V) ->
    case V band 16#ffffffff of
        U when U >= 16#80000000 -> U - 16#100000000;
        U -> U
    end.

utf8(Bin) ->
    case valid_utf8(Bin) of
        true -> Bin;
        false -> throw({pb, invalid_utf8})
    end.

%% Binary matching of /utf8 refuses overlong forms, surrogates and code points past
%% U+10FFFF, as upb does. ASCII runs are skipped 8 bytes at a time.
valid_utf8(<<W:64, Rest/binary>>) when W band 16#8080808080808080 =:= 0 -> valid_utf8(Rest);
valid_utf8(<<C, Rest/binary>>) when C < 128 -> valid_utf8(Rest);
valid_utf8(<<_/utf8, Rest/binary>>) -> valid_utf8(Rest);
valid_utf8(<<>>) -> true;
valid_utf8(_) -> false.

%% One field: {FieldNumber, WireType, Value, Rest}; for wire type 2 the value is the
%% payload, for the others it does not matter to these messages.
field(Bin) ->
    {Tag, Rest} = tag(Bin),
    Field = Tag bsr 3,
    case Tag band 7 of
        _ when Field =:= 0 -> throw({pb, field_number_zero});
        0 -> {_, Rest1} = varint(Rest, 10), {Field, 0, none, Rest1};
        1 -> {Field, 1, none, fixed(Rest, 8)};
        2 -> {Value, Rest1} = length_delimited(Rest), {Field, 2, Value, Rest1};
        3 -> {Field, 3, none, group(Rest, Field, 1)};
        4 -> throw({pb, unexpected_end_group});
        5 -> {Field, 5, none, fixed(Rest, 4)};
        _ -> throw({pb, bad_wire_type})
    end.

tag(Bin) ->
    case varint(Bin, 5) of
        {Tag, _} when Tag > 16#ffffffff -> throw({pb, tag_too_wide});
        Result -> Result
    end.

length_delimited(Bin) ->
    {Len, Rest} = varint(Bin, 5),
    case Rest of
        <<Value:Len/binary, Rest1/binary>> -> {Value, Rest1};
        _ -> throw({pb, truncated_length_delimited})
    end.

fixed(Bin, N) ->
    case Bin of
        <<_:N/binary, Rest/binary>> -> Rest;
        _ -> throw({pb, truncated_fixed})
    end.

%% Skips a group's fields up to its end-group tag, which must carry the same number.
group(_Bin, _Field, Depth) when Depth > ?MAX_GROUP_DEPTH ->
    throw({pb, groups_too_deep});
group(Bin, Field, Depth) ->
    {Tag, Rest} = tag(Bin),
    case {Tag bsr 3, Tag band 7} of
        {Field, 4} -> Rest;
        {_, 4} -> throw({pb, mismatched_end_group});
        {Inner, 3} when Inner =/= 0 -> group(group(Rest, Inner, Depth + 1), Field, Depth);
        _ -> {_, _, _, Rest1} = field(Bin), group(Rest1, Field, Depth)
    end.

%% A varint of at most MaxBytes bytes (bits past 64 are dropped, as upb does).
varint(Bin, MaxBytes) ->
    varint(Bin, 0, 0, MaxBytes).

varint(<<0:1, B:7, Rest/binary>>, Shift, Acc, Left) when Left > 0 ->
    {(Acc bor (B bsl Shift)) band 16#ffffffffffffffff, Rest};
varint(<<1:1, B:7, Rest/binary>>, Shift, Acc, Left) when Left > 1 ->
    varint(Rest, Shift + 7, Acc bor (B bsl Shift), Left - 1);
varint(<<>>, _Shift, _Acc, _Left) ->
    throw({pb, truncated_varint});
varint(_Bin, _Shift, _Acc, _Left) ->
    throw({pb, varint_too_long}).

%% -- encoding -----------------------------------------------------------------------------

%% @doc A Blob with its data (field 1, omitted when empty as proto3 does).
-spec encode_blob(iodata()) -> iodata().
encode_blob(Data) ->
    case iolist_size(Data) of
        0 -> [];
        Size -> [<<16#0a>>, encode_varint(Size), Data]
    end.

%% @doc A DiffReply of opcodes `{Tag, I1, I2, J1, J2}' (zero fields omitted).
-spec encode_diff_reply([{binary() | atom(), non_neg_integer(), non_neg_integer(),
                          non_neg_integer(), non_neg_integer()}]) -> binary().
encode_diff_reply(Opcodes) ->
    << <<(opcode(Op))/binary>> || Op <- Opcodes >>.

opcode({Tag, I1, I2, J1, J2}) ->
    T = tag_name(Tag),
    Body = <<16#0a, (byte_size(T)), T/binary, (int_field(2, I1))/binary,
             (int_field(3, I2))/binary, (int_field(4, J1))/binary, (int_field(5, J2))/binary>>,
    <<16#0a, (encode_varint(byte_size(Body)))/binary, Body/binary>>.

tag_name(T) when is_atom(T) -> atom_to_binary(T);
tag_name(T) when is_binary(T) -> T.

int_field(_N, 0) -> <<>>;
int_field(N, V) -> <<(N bsl 3), (encode_varint(V))/binary>>.

%% @doc A DiffRequest (for tests and tools).
-spec encode_diff_request([binary()], [binary()]) -> binary().
encode_diff_request(A, B) ->
    iolist_to_binary([[<<(F bsl 3 bor 2)>>, encode_varint(byte_size(S)), S]
                      || {F, L} <- [{1, A}, {2, B}], S <- L]).

encode_varint(V) when V < 128 -> <<V>>;
encode_varint(V) -> <<(128 bor (V band 127)), (encode_varint(V bsr 7))/binary>>.
