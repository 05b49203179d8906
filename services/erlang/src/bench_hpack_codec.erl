%% @doc A pure HPACK codec (RFC 7541): no I/O. The decoder keeps the dynamic table
%% (insertion, eviction, size updates bounded by the size we allow); strings may be
%% Huffman-coded (Appendix B). The encoder writes literals without indexing and never
%% uses the dynamic table, so that our header blocks can be precomputed once.
%% Header names and values stay binaries: nothing here makes atoms from network input.
-module(bench_hpack_codec).

-export([new_decoder/1, decode/3, encode/1, encode_int/3, huffman_decode/1,
         huffman_encode/1, table_size/1, table_entries/1, static_table/0, huffman_table/0]).

-export_type([decoder/0, header/0]).

-type header() :: {binary(), binary()}.
-record(hdec, {max :: non_neg_integer(),            % the limit we advertised
               size = 0 :: non_neg_integer(),      % the table's current limit
               used = 0 :: non_neg_integer(),      % bytes in the table (RFC 7541 4.1)
               entries = [] :: [header()]}).       % newest first
-opaque decoder() :: #hdec{}.
-type error_reason() :: {compression_error, atom()}.

-define(ENTRY_OVERHEAD, 32).

%% @doc A decoder whose dynamic table may grow up to `MaxSize' bytes
%% (our SETTINGS_HEADER_TABLE_SIZE).
-spec new_decoder(non_neg_integer()) -> decoder().
new_decoder(MaxSize) ->
    #hdec{max = MaxSize, size = MaxSize}.

-spec table_size(decoder()) -> non_neg_integer().
table_size(#hdec{used = Used}) ->
    Used.

-spec table_entries(decoder()) -> [header()].
table_entries(#hdec{entries = E}) ->
    E.

%% @doc Decodes one complete header block. Once the decoded list passes `MaxListSize'
%% (RFC 9113 SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32 per field) the fields are
%% dropped but the block is still decoded to the end, so that the dynamic table stays the
%% peer's: the result is then `{too_large, Decoder}'.
-spec decode(binary(), non_neg_integer(), decoder()) ->
          {ok, [header()], decoder()} | {too_large, decoder()} | {error, error_reason()}.
decode(Block, MaxListSize, D) ->
    try block(Block, true, D, MaxListSize, 0, []) of
        Result -> Result
    catch
        throw:{hpack, Why} -> {error, {compression_error, Why}}
    end.

block(<<>>, _First, D, Max, Size, Acc) ->
    case Size > Max of
        true -> {too_large, D};
        false -> {ok, lists:reverse(Acc), D}
    end;
block(<<1:1, _:7, _/binary>> = Bin, _First, D, Max, Size, Acc) ->
    %% Indexed header field (6.1).
    {Index, Rest} = int(Bin, 7),
    add(lookup(Index, D), Rest, D, Max, Size, Acc);
block(<<0:1, 1:1, _:6, _/binary>> = Bin, _First, D, Max, Size, Acc) ->
    %% Literal with incremental indexing (6.2.1).
    {Index, Rest} = int(Bin, 6),
    {Field, Rest1} = literal(Index, Rest, D),
    add(Field, Rest1, insert(Field, D), Max, Size, Acc);
block(<<0:2, 1:1, _:5, _/binary>> = Bin, First, D, Max, Size, Acc) ->
    %% Dynamic table size update (6.3): only at the start of a block (4.2), and never above
    %% the limit we advertised.
    {NewSize, Rest} = int(Bin, 5),
    First orelse throw({hpack, size_update_not_first}),
    NewSize =< D#hdec.max orelse throw({hpack, size_update_too_large}),
    block(Rest, true, evict(D#hdec{size = NewSize}), Max, Size, Acc);
block(<<0:3, _:5, _/binary>> = Bin, _First, D, Max, Size, Acc) ->
    %% Literal without indexing (6.2.2) or never indexed (6.2.3): same for a decoder.
    {Index, Rest} = int(Bin, 4),
    {Field, Rest1} = literal(Index, Rest, D),
    add(Field, Rest1, D, Max, Size, Acc).

add({Name, Value} = Field, Rest, D, Max, Size, Acc) ->
    Size1 = Size + byte_size(Name) + byte_size(Value) + ?ENTRY_OVERHEAD,
    case Size1 > Max of
        true -> block(Rest, false, D, Max, Size1, []);
        false -> block(Rest, false, D, Max, Size1, [Field | Acc])
    end.

literal(0, Bin, _D) ->
    {Name, Rest} = string(Bin),
    {Value, Rest1} = string(Rest),
    {{Name, Value}, Rest1};
literal(Index, Bin, D) ->
    {Name, _} = lookup(Index, D),
    {Value, Rest} = string(Bin),
    {{Name, Value}, Rest}.

string(<<>>) ->
    throw({hpack, truncated_string});
string(<<H:1, _:7, _/binary>> = Bin) ->
    {Len, Rest} = int(Bin, 7),
    case Rest of
        <<Str:Len/binary, Rest1/binary>> when H =:= 0 -> {Str, Rest1};
        <<Str:Len/binary, Rest1/binary>> ->
            case huffman_decode(Str) of
                {ok, Plain} -> {Plain, Rest1};
                {error, Why} -> throw({hpack, Why})
            end;
        _ -> throw({hpack, truncated_string})
    end.

%% Integers (5.1): an N-bit prefix, then 7-bit groups, least significant first. More than
%% 4 continuation bytes would exceed 2^28: refused (no header field is that long).
int(Bin, N) ->
    <<_:(8 - N), Prefix:N, Rest/binary>> = Bin,
    Max = (1 bsl N) - 1,
    case Prefix < Max of
        true -> {Prefix, Rest};
        false -> int_more(Rest, Max, 0, 0)
    end.

int_more(_Bin, _Acc, _Shift, 4) ->
    throw({hpack, integer_overflow});
int_more(<<1:1, B:7, Rest/binary>>, Acc, Shift, N) ->
    int_more(Rest, Acc + (B bsl Shift), Shift + 7, N + 1);
int_more(<<0:1, B:7, Rest/binary>>, Acc, Shift, _N) ->
    {Acc + (B bsl Shift), Rest};
int_more(<<>>, _Acc, _Shift, _N) ->
    throw({hpack, truncated_integer}).

lookup(0, _D) ->
    throw({hpack, index_zero});
lookup(Index, _D) when Index =< 61 ->
    element(Index, static_tuple());
lookup(Index, #hdec{entries = E}) ->
    case Index - 61 =< length(E) of
        true -> lists:nth(Index - 61, E);
        false -> throw({hpack, index_out_of_range})
    end.

insert({Name, Value} = Field, #hdec{size = Limit, entries = E, used = Used} = D) ->
    Size = byte_size(Name) + byte_size(Value) + ?ENTRY_OVERHEAD,
    case Size > Limit of
        %% An entry larger than the table empties it (4.4).
        true -> D#hdec{entries = [], used = 0};
        false -> evict(D#hdec{entries = [Field | E], used = Used + Size})
    end.

evict(#hdec{size = Limit, used = Used} = D) when Used =< Limit ->
    D;
evict(#hdec{entries = E, used = Used} = D) ->
    {Keep, [{N, V}]} = lists:split(length(E) - 1, E),
    evict(D#hdec{entries = Keep, used = Used - byte_size(N) - byte_size(V) - ?ENTRY_OVERHEAD}).

%% @doc A header block of literals without indexing, names and values as plain strings
%% (static-table names where one exists). Stateless: safe to precompute.
-spec encode([header()]) -> binary().
encode(Headers) ->
    iolist_to_binary([field(H) || H <- Headers]).

field({Name, Value}) ->
    case static_name_index(Name) of
        none -> [0, plain(Name), plain(Value)];
        Index -> [encode_int(Index, 4, 0), plain(Value)]
    end.

plain(Str) ->
    [encode_int(byte_size(Str), 7, 0), Str].

%% @doc An integer with an N-bit prefix; `High' holds the bits above the prefix.
-spec encode_int(non_neg_integer(), 1..8, byte()) -> binary().
encode_int(I, N, High) when I < (1 bsl N) - 1 ->
    <<(High bor I)>>;
encode_int(I, N, High) ->
    Max = (1 bsl N) - 1,
    <<(High bor Max), (more_bytes(I - Max))/binary>>.

more_bytes(I) when I < 128 -> <<I>>;
more_bytes(I) -> <<(128 bor (I band 127)), (more_bytes(I bsr 7))/binary>>.

static_name_index(Name) ->
    case [I || I <- lists:seq(1, 61), element(1, element(I, static_tuple())) =:= Name] of
        [I | _] -> I;
        [] -> none
    end.

%% @doc The static table (Appendix A), index 1 first.
-spec static_table() -> [header()].
static_table() ->
    tuple_to_list(static_tuple()).

static_tuple() ->
    {{<<":authority">>, <<>>}, {<<":method">>, <<"GET">>}, {<<":method">>, <<"POST">>},
     {<<":path">>, <<"/">>}, {<<":path">>, <<"/index.html">>}, {<<":scheme">>, <<"http">>},
     {<<":scheme">>, <<"https">>}, {<<":status">>, <<"200">>}, {<<":status">>, <<"204">>},
     {<<":status">>, <<"206">>}, {<<":status">>, <<"304">>}, {<<":status">>, <<"400">>},
     {<<":status">>, <<"404">>}, {<<":status">>, <<"500">>}, {<<"accept-charset">>, <<>>},
     {<<"accept-encoding">>, <<"gzip, deflate">>}, {<<"accept-language">>, <<>>},
     {<<"accept-ranges">>, <<>>}, {<<"accept">>, <<>>},
     {<<"access-control-allow-origin">>, <<>>}, {<<"age">>, <<>>}, {<<"allow">>, <<>>},
     {<<"authorization">>, <<>>}, {<<"cache-control">>, <<>>},
     {<<"content-disposition">>, <<>>}, {<<"content-encoding">>, <<>>},
     {<<"content-language">>, <<>>}, {<<"content-length">>, <<>>},
     {<<"content-location">>, <<>>}, {<<"content-range">>, <<>>},
     {<<"content-type">>, <<>>}, {<<"cookie">>, <<>>}, {<<"date">>, <<>>},
     {<<"etag">>, <<>>}, {<<"expect">>, <<>>}, {<<"expires">>, <<>>}, {<<"from">>, <<>>},
     {<<"host">>, <<>>}, {<<"if-match">>, <<>>}, {<<"if-modified-since">>, <<>>},
     {<<"if-none-match">>, <<>>}, {<<"if-range">>, <<>>},
     {<<"if-unmodified-since">>, <<>>}, {<<"last-modified">>, <<>>}, {<<"link">>, <<>>},
     {<<"location">>, <<>>}, {<<"max-forwards">>, <<>>},
     {<<"proxy-authenticate">>, <<>>}, {<<"proxy-authorization">>, <<>>},
     {<<"range">>, <<>>}, {<<"referer">>, <<>>}, {<<"refresh">>, <<>>},
     {<<"retry-after">>, <<>>}, {<<"server">>, <<>>}, {<<"set-cookie">>, <<>>},
     {<<"strict-transport-security">>, <<>>}, {<<"transfer-encoding">>, <<>>},
     {<<"user-agent">>, <<>>}, {<<"vary">>, <<>>}, {<<"via">>, <<>>},
     {<<"www-authenticate">>, <<>>}}.

%% -- Huffman (Appendix B) -----------------------------------------------------------------

%% @doc The code of each symbol 0..256 (256 is EOS) as {Code, BitLength}.
-spec huffman_table() -> [{non_neg_integer(), 5..30}].
huffman_table() ->
    [{16#1ff8, 13}, {16#7fffd8, 23}, {16#fffffe2, 28}, {16#fffffe3, 28}, {16#fffffe4, 28},
     {16#fffffe5, 28}, {16#fffffe6, 28}, {16#fffffe7, 28}, {16#fffffe8, 28},
     {16#ffffea, 24}, {16#3ffffffc, 30}, {16#fffffe9, 28}, {16#fffffea, 28},
     {16#3ffffffd, 30}, {16#fffffeb, 28}, {16#fffffec, 28}, {16#fffffed, 28},
     {16#fffffee, 28}, {16#fffffef, 28}, {16#ffffff0, 28}, {16#ffffff1, 28},
     {16#ffffff2, 28}, {16#3ffffffe, 30}, {16#ffffff3, 28}, {16#ffffff4, 28},
     {16#ffffff5, 28}, {16#ffffff6, 28}, {16#ffffff7, 28}, {16#ffffff8, 28},
     {16#ffffff9, 28}, {16#ffffffa, 28}, {16#ffffffb, 28},
     %% 32 ' ' .. 47 '/'
     {16#14, 6}, {16#3f8, 10}, {16#3f9, 10}, {16#ffa, 12}, {16#1ff9, 13}, {16#15, 6},
     {16#f8, 8}, {16#7fa, 11}, {16#3fa, 10}, {16#3fb, 10}, {16#f9, 8}, {16#7fb, 11},
     {16#fa, 8}, {16#16, 6}, {16#17, 6}, {16#18, 6},
     %% 48 '0' .. 64 '@'
     {16#0, 5}, {16#1, 5}, {16#2, 5}, {16#19, 6}, {16#1a, 6}, {16#1b, 6}, {16#1c, 6},
     {16#1d, 6}, {16#1e, 6}, {16#1f, 6}, {16#5c, 7}, {16#fb, 8}, {16#7ffc, 15},
     {16#20, 6}, {16#ffb, 12}, {16#3fc, 10}, {16#1ffa, 13},
     %% 65 'A' .. 96 '`'
     {16#21, 6}, {16#5d, 7}, {16#5e, 7}, {16#5f, 7}, {16#60, 7}, {16#61, 7}, {16#62, 7},
     {16#63, 7}, {16#64, 7}, {16#65, 7}, {16#66, 7}, {16#67, 7}, {16#68, 7}, {16#69, 7},
     {16#6a, 7}, {16#6b, 7}, {16#6c, 7}, {16#6d, 7}, {16#6e, 7}, {16#6f, 7}, {16#70, 7},
     {16#71, 7}, {16#72, 7}, {16#fc, 8}, {16#73, 7}, {16#fd, 8}, {16#1ffb, 13},
     {16#7fff0, 19}, {16#1ffc, 13}, {16#3ffc, 14}, {16#22, 6}, {16#7ffd, 15},
     %% 97 'a' .. 127
     {16#3, 5}, {16#23, 6}, {16#4, 5}, {16#24, 6}, {16#5, 5}, {16#25, 6}, {16#26, 6},
     {16#27, 6}, {16#6, 5}, {16#74, 7}, {16#75, 7}, {16#28, 6}, {16#29, 6}, {16#2a, 6},
     {16#7, 5}, {16#2b, 6}, {16#76, 7}, {16#2c, 6}, {16#8, 5}, {16#9, 5}, {16#2d, 6},
     {16#77, 7}, {16#78, 7}, {16#79, 7}, {16#7a, 7}, {16#7b, 7}, {16#7ffe, 15},
     {16#7fc, 11}, {16#3ffd, 14}, {16#1ffd, 13}, {16#ffffffc, 28},
     %% 128 .. 191
     {16#fffe6, 20}, {16#3fffd2, 22}, {16#fffe7, 20}, {16#fffe8, 20}, {16#3fffd3, 22},
     {16#3fffd4, 22}, {16#3fffd5, 22}, {16#7fffd9, 23}, {16#3fffd6, 22}, {16#7fffda, 23},
     {16#7fffdb, 23}, {16#7fffdc, 23}, {16#7fffdd, 23}, {16#7fffde, 23}, {16#ffffeb, 24},
     {16#7fffdf, 23}, {16#ffffec, 24}, {16#ffffed, 24}, {16#3fffd7, 22}, {16#7fffe0, 23},
     {16#ffffee, 24}, {16#7fffe1, 23}, {16#7fffe2, 23}, {16#7fffe3, 23}, {16#7fffe4, 23},
     {16#1fffdc, 21}, {16#3fffd8, 22}, {16#7fffe5, 23}, {16#3fffd9, 22}, {16#7fffe6, 23},
     {16#7fffe7, 23}, {16#ffffef, 24}, {16#3fffda, 22}, {16#1fffdd, 21}, {16#fffe9, 20},
     {16#3fffdb, 22}, {16#3fffdc, 22}, {16#7fffe8, 23}, {16#7fffe9, 23}, {16#1fffde, 21},
     {16#7fffea, 23}, {16#3fffdd, 22}, {16#3fffde, 22}, {16#fffff0, 24}, {16#1fffdf, 21},
     {16#3fffdf, 22}, {16#7fffeb, 23}, {16#7fffec, 23}, {16#1fffe0, 21}, {16#1fffe1, 21},
     {16#3fffe0, 22}, {16#1fffe2, 21}, {16#7fffed, 23}, {16#3fffe1, 22}, {16#7fffee, 23},
     {16#7fffef, 23}, {16#fffea, 20}, {16#3fffe2, 22}, {16#3fffe3, 22}, {16#3fffe4, 22},
     {16#7ffff0, 23}, {16#3fffe5, 22}, {16#3fffe6, 22}, {16#7ffff1, 23},
     %% 192 .. 255
     {16#3ffffe0, 26}, {16#3ffffe1, 26}, {16#fffeb, 20}, {16#7fff1, 19}, {16#3fffe7, 22},
     {16#7ffff2, 23}, {16#3fffe8, 22}, {16#1ffffec, 25}, {16#3ffffe2, 26},
     {16#3ffffe3, 26}, {16#3ffffe4, 26}, {16#7ffffde, 27}, {16#7ffffdf, 27},
     {16#3ffffe5, 26}, {16#fffff1, 24}, {16#1ffffed, 25}, {16#7fff2, 19}, {16#1fffe3, 21},
     {16#3ffffe6, 26}, {16#7ffffe0, 27}, {16#7ffffe1, 27}, {16#3ffffe7, 26},
     {16#7ffffe2, 27}, {16#fffff2, 24}, {16#1fffe4, 21}, {16#1fffe5, 21},
     {16#3ffffe8, 26}, {16#3ffffe9, 26}, {16#ffffffd, 28}, {16#7ffffe3, 27},
     {16#7ffffe4, 27}, {16#7ffffe5, 27}, {16#fffec, 20}, {16#fffff3, 24}, {16#fffed, 20},
     {16#1fffe6, 21}, {16#3fffe9, 22}, {16#1fffe7, 21}, {16#1fffe8, 21}, {16#7ffff3, 23},
     {16#3fffea, 22}, {16#3fffeb, 22}, {16#1ffffee, 25}, {16#1ffffef, 25},
     {16#fffff4, 24}, {16#fffff5, 24}, {16#3ffffea, 26}, {16#7ffff4, 23},
     {16#3ffffeb, 26}, {16#7ffffe6, 27}, {16#3ffffec, 26}, {16#3ffffed, 26},
     {16#7ffffe7, 27}, {16#7ffffe8, 27}, {16#7ffffe9, 27}, {16#7ffffea, 27},
     {16#7ffffeb, 27}, {16#ffffffe, 28}, {16#7ffffec, 27}, {16#7ffffed, 27},
     {16#7ffffee, 27}, {16#7ffffef, 27}, {16#7fffff0, 27}, {16#3ffffee, 26},
     %% 256: EOS
     {16#3fffffff, 30}].

%% Canonical decoding tables, built once: for each bit length L (5..30) the first code of
%% that length and the symbols of that length in code order.
decode_tables() ->
    case persistent_term:get({?MODULE, huffman}, undefined) of
        undefined ->
            Table = huffman_table(),
            Syms = lists:zip(lists:seq(0, 256), Table),
            ByLen = [begin
                         OfLen = lists:sort([{C, S} || {S, {C, L1}} <- Syms, L1 =:= L]),
                         case OfLen of
                             [] -> {0, {}};
                             [{First, _} | _] -> {First, list_to_tuple([S || {_, S} <- OfLen])}
                         end
                     end || L <- lists:seq(1, 30)],
            T = list_to_tuple(ByLen),
            persistent_term:put({?MODULE, huffman}, T),
            T;
        T ->
            T
    end.

%% @doc Decodes a Huffman-coded string. Padding must be the most significant bits of EOS
%% and shorter than 8 bits; EOS inside the string is an error (5.2).
-spec huffman_decode(binary()) -> {ok, binary()} | {error, atom()}.
huffman_decode(Bin) ->
    hdec(Bin, 0, 0, decode_tables(), []).

hdec(<<>>, Code, Len, _T, Acc) ->
    case Len =< 7 andalso Code =:= (1 bsl Len) - 1 of
        true -> {ok, list_to_binary(lists:reverse(Acc))};
        false -> {error, bad_huffman_padding}
    end;
hdec(<<B:1, Rest/bits>>, Code0, Len0, T, Acc) ->
    Code = (Code0 bsl 1) bor B,
    Len = Len0 + 1,
    {First, Syms} = element(Len, T),
    case Code - First of
        I when I >= 0, I < tuple_size(Syms) ->
            case element(I + 1, Syms) of
                256 -> {error, huffman_eos};
                Sym -> hdec(Rest, 0, 0, T, [Sym | Acc])
            end;
        _ when Len >= 30 ->
            {error, bad_huffman_code};
        _ ->
            hdec(Rest, Code, Len, T, Acc)
    end.

code_bits({Code, Len}) ->
    <<Code:Len>>.

%% @doc Huffman-codes a string (padded with the most significant bits of EOS).
-spec huffman_encode(binary()) -> binary().
huffman_encode(Bin) ->
    T = list_to_tuple(huffman_table()),
    Bits = << <<(code_bits(element(C + 1, T)))/bits>> || <<C>> <= Bin >>,
    Pad = (8 - bit_size(Bits) rem 8) rem 8,
    <<Bits/bits, ((1 bsl Pad) - 1):Pad>>.
