%% @doc A pure HTTP/2 framing codec (RFC 9113 sections 3.4, 4 and 6), server side (and,
%% with `new_client/1', the client's: no preface to expect): no I/O.
%% The decoder is a state machine over binaries fed in whatever pieces TCP delivers:
%% `decode(Data, Decoder)' checks the client connection preface and that SETTINGS comes
%% first, then returns every complete frame as an event, a HEADERS frame and its
%% CONTINUATIONs as one `headers' event with the whole field block. What the framing layer
%% alone can tell is wrong (a frame over the size we allow, a frame on stream 0 that must
%% not be, bad lengths and padding, an interrupted field block, settings out of range) is
%% an error event; a `connection_error' is the last event of a decoder, which then stays
%% failed. PRIORITY is decoded (the connection ignores it), unknown frame types are skipped
%% (RFC 9113 4.1, 5.5). Codes stay integers or fixed atoms: no atom comes from the network.
-module(bench_h2_codec).

-export([new/0, new/1, new_client/1, decode/2, preface/0, frame/4, settings/1, settings_ack/0,
         ping_ack/1, goaway/3, rst_stream/2, window_update/2, headers/4, data/3,
         error_code/1, setting_id/1]).

-export_type([decoder/0, event/0, error_code/0]).

-define(PREFACE, <<"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n">>).
-define(DATA, 0).
-define(HEADERS, 1).
-define(PRIORITY, 2).
-define(RST_STREAM, 3).
-define(SETTINGS, 4).
-define(PUSH_PROMISE, 5).
-define(PING, 6).
-define(GOAWAY, 7).
-define(WINDOW_UPDATE, 8).
-define(CONTINUATION, 9).
-define(END_STREAM, 16#1).
-define(ACK, 16#1).
-define(END_HEADERS, 16#4).
-define(PADDED, 16#8).
-define(PRIORITY_FLAG, 16#20).
-define(MAX_WINDOW, 16#7fffffff).
%% A field block (HEADERS + CONTINUATIONs) longer than this, or in more pieces, is refused
%% with ENHANCE_YOUR_CALM: it bounds what one stream's headers can hold in memory.
-define(MAX_BLOCK_DEFAULT, 65536).
-define(MAX_PIECES, 64).

-type error_code() :: no_error | protocol_error | internal_error | flow_control_error
                    | settings_timeout | stream_closed | frame_size_error | refused_stream
                    | cancel | compression_error | connect_error | enhance_your_calm
                    | inadequate_security | http_1_1_required.
-type sid() :: non_neg_integer().
-type event() :: {data, sid(), EndStream :: boolean(), binary(), FlowLen :: non_neg_integer()}
               | {headers, sid(), EndStream :: boolean(), Block :: binary(),
                  DependsOn :: none | sid()}
               | {priority, sid(), DependsOn :: sid()}
               | {rst_stream, sid(), Code :: non_neg_integer()}
               | {settings, [{non_neg_integer(), non_neg_integer()}]}
               | settings_ack
               | {ping, binary()}
               | {ping_ack, binary()}
               | {goaway, sid(), Code :: non_neg_integer(), Debug :: binary()}
               | {window_update, sid(), pos_integer()}
               | {push_promise, sid()}
               | {stream_error, sid(), error_code(), atom()}
               | {connection_error, error_code(), atom()}.

-record(h2dec, {state = preface :: preface | first_settings | frames | failed,
                buf = <<>> :: binary(),
                max_frame :: pos_integer(),
                max_block :: pos_integer(),
                %% An unfinished field block: stream, END_STREAM, dependency, pieces
                %% (reversed), bytes so far.
                block = none :: none | {sid(), boolean(), none | sid(), [binary()],
                                        non_neg_integer()}}).
-opaque decoder() :: #h2dec{}.

%% @doc A decoder expecting the client preface; frames up to 16 384 bytes (the default
%% SETTINGS_MAX_FRAME_SIZE).
-spec new() -> decoder().
new() ->
    new(#{}).

-spec new(#{max_frame_size => pos_integer(), max_block_size => pos_integer()}) -> decoder().
new(Opts) ->
    #h2dec{max_frame = maps:get(max_frame_size, Opts, 16384),
           max_block = maps:get(max_block_size, Opts, ?MAX_BLOCK_DEFAULT)}.

%% @doc A client's decoder: no preface expected, the server's first frame must be
%% SETTINGS (RFC 9113 3.4); the same options as `new/1'.
-spec new_client(#{max_frame_size => pos_integer(), max_block_size => pos_integer()}) -> decoder().
new_client(Opts) ->
    (new(Opts))#h2dec{state = first_settings}.

%% @doc The client connection preface (RFC 9113 3.4).
-spec preface() -> binary().
preface() ->
    ?PREFACE.

%% @doc Feeds bytes; returns every complete event in order.
-spec decode(binary(), decoder()) -> {ok, [event()], decoder()}.
decode(_Data, #h2dec{state = failed} = D) ->
    {ok, [], D};
decode(Data, #h2dec{buf = <<>>} = D) ->
    run(D, Data, []);
decode(Data, #h2dec{buf = Buf} = D) ->
    run(D#h2dec{buf = <<>>}, <<Buf/binary, Data/binary>>, []).

run(#h2dec{state = preface} = D, Buf, Acc) ->
    Size = min(byte_size(Buf), 24),
    case binary:part(?PREFACE, 0, Size) =:= binary:part(Buf, 0, Size) of
        false -> fail(D, Acc, protocol_error, bad_preface);
        true when Size < 24 -> {ok, lists:reverse(Acc), D#h2dec{buf = Buf}};
        true -> run(D#h2dec{state = first_settings}, binary:part(Buf, 24, byte_size(Buf) - 24), Acc)
    end;
run(#h2dec{max_frame = Max} = D, <<Len:24, _:8, _/binary>>, Acc) when Len > Max ->
    fail(D, Acc, frame_size_error, frame_too_large);
run(#h2dec{state = first_settings} = D, <<_:24, Type:8, _/binary>>, Acc) when Type =/= ?SETTINGS ->
    fail(D, Acc, protocol_error, settings_expected);
run(#h2dec{state = first_settings} = D, <<_:24, ?SETTINGS:8, Flags:8, _/binary>>, Acc)
  when Flags band ?ACK =/= 0 ->
    fail(D, Acc, protocol_error, settings_expected);
run(D, <<Len:24, Type:8, Flags:8, _:1, Sid:31, Payload:Len/binary, Rest/binary>>, Acc) ->
    State = case D#h2dec.state of first_settings -> frames; S -> S end,
    case frame_event(Type, Flags, Sid, Payload, D#h2dec{state = State}) of
        {skip, D1} -> run(D1, Rest, Acc);
        {event, {connection_error, Code, Why}, D1} -> fail(D1, Acc, Code, Why);
        {event, Event, D1} -> run(D1, Rest, [Event | Acc])
    end;
run(D, Buf, Acc) ->
    {ok, lists:reverse(Acc), D#h2dec{buf = Buf}}.

fail(D, Acc, Code, Why) ->
    {ok, lists:reverse(Acc, [{connection_error, Code, Why}]), D#h2dec{state = failed, buf = <<>>}}.

%% Inside a field block only CONTINUATION frames of the same stream may come (6.10).
frame_event(?CONTINUATION, Flags, Sid, Payload,
            #h2dec{block = {Sid, EndStream, Dep, Pieces, Size}} = D) ->
    Size1 = Size + byte_size(Payload),
    if
        Size1 > D#h2dec.max_block; length(Pieces) >= ?MAX_PIECES ->
            conn(D, enhance_your_calm, field_block_too_large);
        Flags band ?END_HEADERS =/= 0 ->
            Block = iolist_to_binary(lists:reverse(Pieces, [Payload])),
            {event, {headers, Sid, EndStream, Block, Dep}, D#h2dec{block = none}};
        true ->
            {skip, D#h2dec{block = {Sid, EndStream, Dep, [Payload | Pieces], Size1}}}
    end;
frame_event(_Type, _Flags, _Sid, _Payload, #h2dec{block = {_, _, _, _, _}} = D) ->
    conn(D, protocol_error, field_block_interrupted);
frame_event(?CONTINUATION, _Flags, _Sid, _Payload, D) ->
    conn(D, protocol_error, continuation_without_headers);
frame_event(?DATA, _Flags, 0, _Payload, D) ->
    conn(D, protocol_error, data_on_stream_0);
frame_event(?DATA, Flags, Sid, Payload, D) ->
    case unpad(Flags, Payload) of
        {ok, Data} -> {event, {data, Sid, Flags band ?END_STREAM =/= 0, Data, byte_size(Payload)}, D};
        error -> conn(D, protocol_error, bad_padding)
    end;
frame_event(?HEADERS, _Flags, 0, _Payload, D) ->
    conn(D, protocol_error, headers_on_stream_0);
frame_event(?HEADERS, Flags, Sid, Payload, D) ->
    case unpad(Flags, Payload) of
        error ->
            conn(D, protocol_error, bad_padding);
        {ok, Frag0} ->
            case priority(Flags, Frag0) of
                error ->
                    conn(D, frame_size_error, short_priority);
                {Dep, Frag} ->
                    EndStream = Flags band ?END_STREAM =/= 0,
                    case Flags band ?END_HEADERS =/= 0 of
                        true -> {event, {headers, Sid, EndStream, Frag, Dep}, D};
                        false when byte_size(Frag) > D#h2dec.max_block ->
                            conn(D, enhance_your_calm, field_block_too_large);
                        false -> {skip, D#h2dec{block = {Sid, EndStream, Dep, [Frag], byte_size(Frag)}}}
                    end
            end
    end;
frame_event(?PRIORITY, _Flags, 0, _Payload, D) ->
    conn(D, protocol_error, priority_on_stream_0);
frame_event(?PRIORITY, _Flags, Sid, <<_:1, Dep:31, _Weight:8>>, D) ->
    {event, {priority, Sid, Dep}, D};
frame_event(?PRIORITY, _Flags, Sid, _Payload, D) ->
    {event, {stream_error, Sid, frame_size_error, bad_priority_length}, D};
frame_event(?RST_STREAM, _Flags, 0, _Payload, D) ->
    conn(D, protocol_error, rst_stream_on_stream_0);
frame_event(?RST_STREAM, _Flags, Sid, <<Code:32>>, D) ->
    {event, {rst_stream, Sid, Code}, D};
frame_event(?RST_STREAM, _Flags, _Sid, _Payload, D) ->
    conn(D, frame_size_error, bad_rst_stream_length);
frame_event(?SETTINGS, _Flags, Sid, _Payload, D) when Sid =/= 0 ->
    conn(D, protocol_error, settings_on_stream);
frame_event(?SETTINGS, Flags, 0, <<>>, D) when Flags band ?ACK =/= 0 ->
    {event, settings_ack, D};
frame_event(?SETTINGS, Flags, 0, _Payload, D) when Flags band ?ACK =/= 0 ->
    conn(D, frame_size_error, settings_ack_with_payload);
frame_event(?SETTINGS, _Flags, 0, Payload, D) when byte_size(Payload) rem 6 =/= 0 ->
    conn(D, frame_size_error, bad_settings_length);
frame_event(?SETTINGS, _Flags, 0, Payload, D) ->
    Settings = [{Id, Value} || <<Id:16, Value:32>> <= Payload],
    case check_settings(Settings) of
        ok -> {event, {settings, Settings}, D};
        {Code, Why} -> conn(D, Code, Why)
    end;
frame_event(?PUSH_PROMISE, _Flags, Sid, _Payload, D) ->
    {event, {push_promise, Sid}, D};
frame_event(?PING, _Flags, Sid, _Payload, D) when Sid =/= 0 ->
    conn(D, protocol_error, ping_on_stream);
frame_event(?PING, Flags, 0, <<Opaque:8/binary>>, D) ->
    case Flags band ?ACK of
        0 -> {event, {ping, Opaque}, D};
        _ -> {event, {ping_ack, Opaque}, D}
    end;
frame_event(?PING, _Flags, 0, _Payload, D) ->
    conn(D, frame_size_error, bad_ping_length);
frame_event(?GOAWAY, _Flags, Sid, _Payload, D) when Sid =/= 0 ->
    conn(D, protocol_error, goaway_on_stream);
frame_event(?GOAWAY, _Flags, 0, <<_:1, Last:31, Code:32, Debug/binary>>, D) ->
    {event, {goaway, Last, Code, Debug}, D};
frame_event(?GOAWAY, _Flags, 0, _Payload, D) ->
    conn(D, frame_size_error, short_goaway);
frame_event(?WINDOW_UPDATE, _Flags, Sid, <<_:1, 0:31>>, D) when Sid =/= 0 ->
    {event, {stream_error, Sid, protocol_error, zero_window_update}, D};
frame_event(?WINDOW_UPDATE, _Flags, 0, <<_:1, 0:31>>, D) ->
    conn(D, protocol_error, zero_window_update);
frame_event(?WINDOW_UPDATE, _Flags, Sid, <<_:1, Inc:31>>, D) ->
    {event, {window_update, Sid, Inc}, D};
frame_event(?WINDOW_UPDATE, _Flags, _Sid, _Payload, D) ->
    conn(D, frame_size_error, bad_window_update_length);
frame_event(_Unknown, _Flags, _Sid, _Payload, D) ->
    {skip, D}.

conn(D, Code, Why) ->
    {event, {connection_error, Code, Why}, D}.

unpad(Flags, Payload) when Flags band ?PADDED =:= 0 ->
    {ok, Payload};
unpad(_Flags, <<Pad, Rest/binary>>) when Pad =< byte_size(Rest) ->
    {ok, binary:part(Rest, 0, byte_size(Rest) - Pad)};
unpad(_Flags, _Payload) ->
    %% Padding as long as the payload or longer (6.1, 6.2).
    error.

priority(Flags, Frag) when Flags band ?PRIORITY_FLAG =:= 0 ->
    {none, Frag};
priority(_Flags, <<_:1, Dep:31, _Weight:8, Frag/binary>>) ->
    {Dep, Frag};
priority(_Flags, _Frag) ->
    error.

%% 6.5.2: ENABLE_PUSH is 0 or 1, INITIAL_WINDOW_SIZE at most 2^31-1, MAX_FRAME_SIZE in
%% 2^14 .. 2^24-1. Unknown settings are ignored.
check_settings([]) -> ok;
check_settings([{2, V} | _]) when V > 1 -> {protocol_error, bad_enable_push};
check_settings([{4, V} | _]) when V > ?MAX_WINDOW -> {flow_control_error, bad_initial_window_size};
check_settings([{5, V} | _]) when V < 16384; V > 16777215 -> {protocol_error, bad_max_frame_size};
check_settings([_ | Rest]) -> check_settings(Rest).

%% -- encoders -----------------------------------------------------------------------------

%% @doc One frame.
-spec frame(byte(), byte(), sid(), iodata()) -> iodata().
frame(Type, Flags, Sid, Payload) ->
    [<<(iolist_size(Payload)):24, Type:8, Flags:8, 0:1, Sid:31>>, Payload].

-spec settings([{atom() | non_neg_integer(), non_neg_integer()}]) -> iodata().
settings(Settings) ->
    frame(?SETTINGS, 0, 0, [<<(setting_id(Id)):16, V:32>> || {Id, V} <- Settings]).

-spec settings_ack() -> iodata().
settings_ack() ->
    frame(?SETTINGS, ?ACK, 0, <<>>).

-spec ping_ack(binary()) -> iodata().
ping_ack(Opaque) ->
    frame(?PING, ?ACK, 0, Opaque).

-spec goaway(sid(), error_code(), binary()) -> iodata().
goaway(LastSid, Code, Debug) ->
    frame(?GOAWAY, 0, 0, [<<0:1, LastSid:31, (error_code(Code)):32>>, Debug]).

-spec rst_stream(sid(), error_code()) -> iodata().
rst_stream(Sid, Code) ->
    frame(?RST_STREAM, 0, Sid, <<(error_code(Code)):32>>).

-spec window_update(sid(), pos_integer()) -> iodata().
window_update(Sid, Inc) ->
    frame(?WINDOW_UPDATE, 0, Sid, <<0:1, Inc:31>>).

%% @doc A field block as HEADERS (+ CONTINUATION frames when it is longer than the
%% peer's maximum frame size).
-spec headers(sid(), binary(), boolean(), pos_integer()) -> iodata().
headers(Sid, Block, EndStream, MaxFrame) when byte_size(Block) =< MaxFrame ->
    frame(?HEADERS, ?END_HEADERS bor end_stream(EndStream), Sid, Block);
headers(Sid, Block, EndStream, MaxFrame) ->
    <<First:MaxFrame/binary, Rest/binary>> = Block,
    [frame(?HEADERS, end_stream(EndStream), Sid, First) | continuation(Sid, Rest, MaxFrame)].

continuation(Sid, Block, MaxFrame) when byte_size(Block) =< MaxFrame ->
    [frame(?CONTINUATION, ?END_HEADERS, Sid, Block)];
continuation(Sid, Block, MaxFrame) ->
    <<Piece:MaxFrame/binary, Rest/binary>> = Block,
    [frame(?CONTINUATION, 0, Sid, Piece) | continuation(Sid, Rest, MaxFrame)].

%% @doc One DATA frame (the caller splits by window and frame size).
-spec data(sid(), iodata(), boolean()) -> iodata().
data(Sid, Data, EndStream) ->
    frame(?DATA, end_stream(EndStream), Sid, Data).

end_stream(true) -> ?END_STREAM;
end_stream(false) -> 0.

%% @doc The code of an error (RFC 9113 7).
-spec error_code(error_code()) -> non_neg_integer().
error_code(no_error) -> 0;
error_code(protocol_error) -> 1;
error_code(internal_error) -> 2;
error_code(flow_control_error) -> 3;
error_code(settings_timeout) -> 4;
error_code(stream_closed) -> 5;
error_code(frame_size_error) -> 6;
error_code(refused_stream) -> 7;
error_code(cancel) -> 8;
error_code(compression_error) -> 9;
error_code(connect_error) -> 10;
error_code(enhance_your_calm) -> 11;
error_code(inadequate_security) -> 12;
error_code(http_1_1_required) -> 13.

%% @doc The identifier of a setting (RFC 9113 6.5.2).
-spec setting_id(atom() | non_neg_integer()) -> non_neg_integer().
setting_id(header_table_size) -> 1;
setting_id(enable_push) -> 2;
setting_id(max_concurrent_streams) -> 3;
setting_id(initial_window_size) -> 4;
setting_id(max_frame_size) -> 5;
setting_id(max_header_list_size) -> 6;
setting_id(Id) when is_integer(Id) -> Id.
