%% @doc The caller's gRPC client: unary `bench.v1.Bench/Echo' and `/Diff' over HTTP/2 with
%% prior knowledge (h2c, RFC 9113 3.3), on the service's pure codecs (bench_h2_codec,
%% bench_hpack_codec, bench_grpc_codec, bench_pb_codec). One connection per user, as the
%% Python and Java callers have one channel per user; one call in flight on it, run in the
%% user's process on a passive socket (no process hop per request).
%%
%% The connection: the preface and our SETTINGS (no push, a 1 MiB stream window), a
%% WINDOW_UPDATE opening the connection window to 16 MiB; the server's SETTINGS applied
%% (initial window, frame size) and acknowledged, PINGs answered, WINDOW_UPDATEs counted,
%% DATA sent within the peer's connection and stream windows (a large request waits for
%% WINDOW_UPDATE), the DATA we read given back with WINDOW_UPDATE once half a window has
%% been read; a GOAWAY ends the connection after the calls it still covers. A call's
%% answer: `{ok, ok, Body | {value, Opcodes}}' for grpc-status 0, `{ok, error, Message}'
%% for another known status (the reply is then wrong), `{error, Why}' when no answer came
%% (connection failed, reset, timeout, DEADLINE_EXCEEDED / UNAVAILABLE as the other callers
%% count them, an HTTP status other than 200, a missing or unknown grpc-status).
-module(bench_caller_grpc).

-export([new/3, connect/2, call/2, close/1, request_block/3]).
-export_type([conn/0, req/0]).

-define(STREAM_WINDOW, 1048576).                 % SETTINGS_INITIAL_WINDOW_SIZE we advertise
-define(CONN_WINDOW, 16777216).                  % our connection window
-define(DEFAULT_WINDOW, 65535).
-define(MAX_WINDOW, 16#7fffffff).
-define(MAX_FRAME, 16384).
-define(HEADER_TABLE, 4096).
-define(MAX_HEADER_LIST, 65536).
%% A reply message as large as the other callers accept: 16 MiB + 64 KiB.
-define(MAX_MESSAGE, (16 * 1024 * 1024 + 64 * 1024)).
-define(LAST_SID, 16#7fffffff).

%% What a call needs, fixed for the cell.
-record(req, {op :: echo | diff, block :: binary(), message :: binary()}).

-record(conn, {sock :: gen_tcp:socket(), req :: #req{},
               dec :: bench_h2_codec:decoder(), hpack :: bench_hpack_codec:decoder(),
               sid = 1 :: pos_integer(),                    % the next stream id
               peer_max_frame = ?MAX_FRAME :: pos_integer(),
               peer_initial = ?DEFAULT_WINDOW :: non_neg_integer(),
               send_window = ?DEFAULT_WINDOW :: integer(),  % the connection's, to the peer
               recv_unacked = 0 :: non_neg_integer(),       % DATA read, not yet given back
               goaway = none :: none | non_neg_integer()}).  % the last stream the peer serves

%% One call's stream.
-record(st, {sid :: pos_integer(), window :: integer(), out :: binary(),
             headers = none :: none | [bench_hpack_codec:header()],
             data = [] :: [binary()], size = 0 :: non_neg_integer(),
             unacked = 0 :: non_neg_integer(),
             %% once the stream has ended: its reply (the rest of the batch is still read:
             %% WINDOW_UPDATEs, PINGs, SETTINGS after the trailers must not be lost)
             reply = none :: none | reply()}).

-opaque conn() :: #conn{}.
-opaque req() :: #req{}.
-type reply() :: {ok, ok | error, binary() | {value, [[binary() | integer()]]}} | {error, term()}.

%% @doc A call's fixed parts: the method, the header block and the encoded message.
%% `Body' is the contract's request body (diff: the JSON of `a' and `b').
-spec new(binary(), binary(), #{host := binary(), port := inet:port_number(),
                                timeout_ms := pos_integer()}) -> req().
new(Op, Body, #{host := Host, port := Port, timeout_ms := TimeoutMs}) ->
    {Atom, Method, Message} =
        case Op of
            <<"echo">> -> {echo, <<"Echo">>, bench_pb_codec:encode_blob(Body)};
            <<"diff">> ->
                #{<<"a">> := A, <<"b">> := B} = jiffy:decode(Body, [return_maps]),
                {diff, <<"Diff">>, bench_pb_codec:encode_diff_request(A, B)}
        end,
    Authority = <<Host/binary, $:, (integer_to_binary(Port))/binary>>,
    #req{op = Atom, block = request_block(Method, Authority, TimeoutMs),
         message = iolist_to_binary(bench_grpc_codec:encode_message(Message))}.

%% @doc The request's field block (HPACK literals, no dynamic table: the same bytes for
%% every call): POST, http, `/bench.v1.Bench/<Method>', the authority, the gRPC content
%% type, `te: trailers' and the deadline as grpc-timeout.
-spec request_block(binary(), binary(), pos_integer()) -> binary().
request_block(Method, Authority, TimeoutMs) ->
    bench_hpack_codec:encode([{<<":method">>, <<"POST">>}, {<<":scheme">>, <<"http">>},
                              {<<":path">>, <<"/bench.v1.Bench/", Method/binary>>},
                              {<<":authority">>, Authority},
                              {<<"content-type">>, <<"application/grpc">>},
                              {<<"te">>, <<"trailers">>},
                              {<<"grpc-timeout">>, grpc_timeout(TimeoutMs)},
                              {<<"user-agent">>, <<"bench-erlang-caller">>}]).

%% At most 8 digits (grpc PROTOCOL-HTTP2.md).
grpc_timeout(Ms) when Ms < 100000000 -> <<(integer_to_binary(Ms))/binary, $m>>;
grpc_timeout(Ms) -> <<(integer_to_binary(min(99999999, Ms div 1000)))/binary, $S>>.

%% @doc Connects and sends the preface; the server's SETTINGS are read with the first call.
-spec connect(req(), {string(), inet:port_number(), timeout()}) ->
          {ok, conn()} | {error, term()}.
connect(Req, {Host, Port, TimeoutMs}) ->
    case gen_tcp:connect(Host, Port, [binary, {active, false}, {nodelay, true}, {packet, raw}],
                         TimeoutMs) of
        {ok, Sock} ->
            Preface = [bench_h2_codec:preface(),
                       bench_h2_codec:settings([{enable_push, 0},
                                                {initial_window_size, ?STREAM_WINDOW},
                                                {max_header_list_size, ?MAX_HEADER_LIST}]),
                       bench_h2_codec:window_update(0, ?CONN_WINDOW - ?DEFAULT_WINDOW)],
            case gen_tcp:send(Sock, Preface) of
                ok ->
                    {ok, #conn{sock = Sock, req = Req,
                               dec = bench_h2_codec:new_client(#{max_frame_size => ?MAX_FRAME}),
                               hpack = bench_hpack_codec:new_decoder(?HEADER_TABLE)}};
                {error, _} = E -> gen_tcp:close(Sock), E
            end;
        {error, _} = E -> E
    end.

%% @doc Closes the connection (GOAWAY NO_ERROR first, as a client leaving politely).
-spec close(conn()) -> ok.
close(#conn{sock = Sock}) ->
    _ = gen_tcp:send(Sock, bench_h2_codec:goaway(0, no_error, <<>>)),
    _ = gen_tcp:close(Sock),
    ok.

%% @doc One unary call, before the monotonic millisecond `Deadline'. The connection comes
%% back when it can carry the next call; `closed' when it cannot (the caller reconnects).
-spec call(conn(), integer()) -> {reply(), conn() | closed}.
call(#conn{sid = Sid} = C, _Deadline) when Sid > ?LAST_SID ->
    close(C),
    {{error, stream_ids_exhausted}, closed};
call(#conn{goaway = Last, sid = Sid} = C, _Deadline) when Last =/= none, Sid > Last ->
    close(C),
    {{error, {goaway, Last}}, closed};
call(#conn{sock = Sock, sid = Sid, req = #req{block = Block, message = Msg}} = C, Deadline) ->
    St = #st{sid = Sid, window = C#conn.peer_initial, out = Msg},
    Head = bench_h2_codec:headers(Sid, Block, false, C#conn.peer_max_frame),
    {Out, C1, St1} = flush(C#conn{sid = Sid + 2}, St),
    case gen_tcp:send(Sock, [Head, Out]) of
        ok -> finish(loop(C1, St1, Deadline));
        {error, Why} -> gen_tcp:close(Sock), {{error, {send, Why}}, closed}
    end.

finish({Reply, closed}) -> {Reply, closed};
finish({Reply, #conn{goaway = Last, sid = Next} = C}) when Last =/= none, Next > Last ->
    %% the peer serves no further stream of ours: the next call starts a new connection
    close(C),
    {Reply, closed};
finish(Result) -> Result.

%% As much of the request's DATA as both windows and the frame size allow; the last frame
%% ends the stream.
flush(C, #st{out = <<>>} = St) ->
    {[], C, St};
flush(#conn{send_window = CW, peer_max_frame = MF} = C, #st{sid = Sid, window = SW, out = Out} = St) ->
    case min(min(CW, SW), min(MF, byte_size(Out))) of
        N when N =< 0 ->
            {[], C, St};
        N ->
            <<Piece:N/binary, Rest/binary>> = Out,
            Frame = bench_h2_codec:data(Sid, Piece, Rest =:= <<>>),
            {More, C1, St1} = flush(C#conn{send_window = CW - N},
                                    St#st{window = SW - N, out = Rest}),
            {[Frame | More], C1, St1}
    end.

%% Reads frames until the stream ends (or fails, or the deadline passes).
loop(#conn{sock = Sock} = C, St, Deadline) ->
    case Deadline - erlang:monotonic_time(millisecond) of
        Left when Left > 0 ->
            case gen_tcp:recv(Sock, 0, Left) of
                {ok, Data} ->
                    {ok, Events, Dec} = bench_h2_codec:decode(Data, C#conn.dec),
                    events(Events, C#conn{dec = Dec}, St, [], Deadline);
                {error, timeout} ->
                    abandon(C, timeout);
                {error, Why} ->
                    gen_tcp:close(Sock),
                    {{error, {recv, Why}}, closed}
            end;
        _ ->
            abandon(C, timeout)
    end.

%% A call given up: the connection goes (a late reply must not be read as the next one's).
abandon(C, Why) ->
    close(C),
    {{error, Why}, closed}.

%% Handles a batch of events; Out collects what to write back (acks, window updates, more
%% DATA), sent in one go.
events([], #conn{sock = Sock} = C, #st{reply = Reply}, Out, _Deadline) when Reply =/= none ->
    case send(Sock, Out) of
        ok -> {Reply, C};
        {error, Why} -> gen_tcp:close(Sock), {{error, {send, Why}}, closed}
    end;
events([], #conn{sock = Sock} = C, St, Out, Deadline) ->
    {More, C1, St1} = flush(C, St),
    case send(Sock, [Out | More]) of
        ok -> loop(C1, St1, Deadline);
        {error, Why} -> gen_tcp:close(Sock), {{error, {send, Why}}, closed}
    end;
events([{data, Sid, End, Data, FlowLen} | Rest], C, #st{sid = Sid} = St, Out, Deadline) ->
    Size = St#st.size + byte_size(Data),
    case Size > ?MAX_MESSAGE + 5 of
        true -> conn_error(C, Out, internal_error, {reply_too_large, Size});
        false ->
            {Out1, C1} = conn_credit(C, FlowLen, Out),
            St1 = St#st{data = [Data | St#st.data], size = Size},
            case End of
                true -> events(Rest, C1, ended(C1, St1, none), Out1, Deadline);
                false ->
                    {Out2, St2} = stream_credit(St1, FlowLen, Out1),
                    events(Rest, C1, St2, Out2, Deadline)
            end
    end;
events([{data, _OtherSid, _End, _Data, FlowLen} | Rest], C, St, Out, Deadline) ->
    %% a stream we gave up already: its DATA still counts against the connection window
    {Out1, C1} = conn_credit(C, FlowLen, Out),
    events(Rest, C1, St, Out1, Deadline);
events([{headers, Sid, End, Block, _Dep} | Rest], C, St, Out, Deadline) ->
    %% every block goes through the decoder, whichever stream it is for: the dynamic table
    %% is the peer's
    case bench_hpack_codec:decode(Block, ?MAX_HEADER_LIST, C#conn.hpack) of
        {ok, Fields, H} when Sid =:= St#st.sid ->
            C1 = C#conn{hpack = H},
            case {St#st.headers, End} of
                {none, false} -> events(Rest, C1, St#st{headers = Fields}, Out, Deadline);
                {none, true} ->
                    events(Rest, C1, ended(C1, St, {trailers_only, Fields}), Out, Deadline);
                {_, true} ->
                    events(Rest, C1, ended(C1, St, {trailers, Fields}), Out, Deadline);
                {_, false} -> conn_error(C1, Out, protocol_error, headers_after_headers)
            end;
        {ok, _Fields, H} ->
            events(Rest, C#conn{hpack = H}, St, Out, Deadline);
        {too_large, H} ->
            conn_error(C#conn{hpack = H}, Out, protocol_error, header_list_too_large);
        {error, Why} ->
            conn_error(C, Out, compression_error, Why)
    end;
events([{settings, Settings} | Rest], C, St, Out, Deadline) ->
    case apply_settings(Settings, C, St) of
        {ok, C1, St1} ->
            events(Rest, C1, St1, [Out, bench_h2_codec:settings_ack()], Deadline);
        {error, Why} ->
            conn_error(C, Out, flow_control_error, Why)
    end;
events([settings_ack | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, Out, Deadline);
events([{ping, Opaque} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, [Out, bench_h2_codec:ping_ack(Opaque)], Deadline);
events([{ping_ack, _} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, Out, Deadline);
events([{window_update, 0, Inc} | Rest], #conn{send_window = W} = C, St, Out, Deadline) ->
    case W + Inc > ?MAX_WINDOW of
        true -> conn_error(C, Out, flow_control_error, connection_window_overflow);
        false -> events(Rest, C#conn{send_window = W + Inc}, St, Out, Deadline)
    end;
events([{window_update, Sid, Inc} | Rest], C, #st{sid = Sid, window = W} = St, Out, Deadline) ->
    case W + Inc > ?MAX_WINDOW of
        true ->
            events(Rest, C, failed({h2_stream, flow_control_error, stream_window_overflow}),
                   [Out, bench_h2_codec:rst_stream(Sid, flow_control_error)], Deadline);
        false -> events(Rest, C, St#st{window = W + Inc}, Out, Deadline)
    end;
events([{window_update, _OtherSid, _} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, Out, Deadline);
events([{rst_stream, Sid, Code} | Rest], C, #st{sid = Sid}, Out, Deadline) ->
    %% the connection stays good: the next call takes the next stream
    events(Rest, C, failed({rst_stream, Code}), Out, Deadline);
events([{rst_stream, _OtherSid, _} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, Out, Deadline);
events([{goaway, Last, Code, Debug} | Rest], C, #st{sid = Sid} = St, Out, Deadline) ->
    C1 = C#conn{goaway = Last},
    case Sid > Last of
        true ->
            _ = send(C#conn.sock, Out),
            close(C1),
            {{error, {goaway, Code, binary:part(Debug, 0, min(100, byte_size(Debug)))}}, closed};
        false ->
            events(Rest, C1, St, Out, Deadline)
    end;
events([{priority, _, _} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, Out, Deadline);
events([{push_promise, _} | _], C, _St, Out, _Deadline) ->
    %% we said SETTINGS_ENABLE_PUSH 0 (RFC 9113 6.6)
    conn_error(C, Out, protocol_error, push_promise);
events([{stream_error, Sid, Code, Why} | Rest], C, #st{sid = Sid}, Out, Deadline) ->
    events(Rest, C, failed({h2_stream, Code, Why}),
           [Out, bench_h2_codec:rst_stream(Sid, Code)], Deadline);
events([{stream_error, Sid, Code, _Why} | Rest], C, St, Out, Deadline) ->
    events(Rest, C, St, [Out, bench_h2_codec:rst_stream(Sid, Code)], Deadline);
events([{connection_error, Code, Why} | _], C, _St, Out, _Deadline) ->
    conn_error(C, Out, Code, Why).

send(Sock, Out) ->
    case iolist_size(Out) of
        0 -> ok;
        _ -> gen_tcp:send(Sock, Out)
    end.

conn_error(#conn{sock = Sock}, Out, Code, Why) ->
    _ = gen_tcp:send(Sock, [Out, bench_h2_codec:goaway(0, Code, atom_or_term(Why))]),
    gen_tcp:close(Sock),
    {{error, {h2, Code, Why}}, closed}.

atom_or_term(Why) when is_atom(Why) -> atom_to_binary(Why);
atom_or_term(Why) -> iolist_to_binary(io_lib:format("~0p", [Why])).

%% Flow control of what we read: given back once half the window has been read.
conn_credit(#conn{recv_unacked = U} = C, N, Out) when U + N >= ?CONN_WINDOW div 2 ->
    {[Out, bench_h2_codec:window_update(0, U + N)], C#conn{recv_unacked = 0}};
conn_credit(#conn{recv_unacked = U} = C, N, Out) ->
    {Out, C#conn{recv_unacked = U + N}}.

stream_credit(#st{unacked = U, sid = Sid} = St, N, Out) when U + N >= ?STREAM_WINDOW div 2 ->
    {[Out, bench_h2_codec:window_update(Sid, U + N)], St#st{unacked = 0}};
stream_credit(#st{unacked = U} = St, N, Out) ->
    {Out, St#st{unacked = U + N}}.

%% SETTINGS_INITIAL_WINDOW_SIZE changes the open stream's window by the difference
%% (RFC 9113 6.9.2); MAX_FRAME_SIZE bounds our frames. Our field blocks have no dynamic
%% table, so HEADER_TABLE_SIZE needs nothing.
apply_settings([], C, St) ->
    {ok, C, St};
apply_settings([{4, New} | Rest], #conn{peer_initial = Old} = C, #st{window = W} = St) ->
    case W + New - Old > ?MAX_WINDOW of
        true -> {error, stream_window_overflow};
        false -> apply_settings(Rest, C#conn{peer_initial = New}, St#st{window = W + New - Old})
    end;
apply_settings([{5, Size} | Rest], C, St) ->
    apply_settings(Rest, C#conn{peer_max_frame = Size}, St);
apply_settings([_ | Rest], C, St) ->
    apply_settings(Rest, C, St).

failed(Why) ->
    #st{sid = 0, window = 0, out = <<>>, reply = {error, Why}}.

%% The stream ended: the reply is judged; stream 0 stands for it while the rest of the batch
%% is read (no stream event names stream 0), and no more DATA goes out.
ended(#conn{req = #req{op = Op}}, St, Trailers) ->
    #st{sid = 0, window = 0, out = <<>>, reply = reply(St, Trailers, Op)}.

reply(_St, none, _Op) ->
    {error, data_ended_stream_without_trailers};
reply(_St, {trailers_only, Fields}, _Op) ->
    case field(<<":status">>, Fields) of
        <<"200">> -> status(Fields, none);
        Status -> {error, {http_status, Status}}
    end;
reply(#st{headers = Headers} = St, {trailers, Trailers}, Op) ->
    case field(<<":status">>, Headers) of
        <<"200">> -> status(Trailers, {St, Op});
        Status -> {error, {http_status, Status}}
    end.

%% grpc-status: 0 with the message; DEADLINE_EXCEEDED and UNAVAILABLE as no reply (as
%% grpcio and grpc-java callers count them); the other codes 1..16 an error reply.
status(Fields, Body) ->
    case field(<<"grpc-status">>, Fields) of
        <<"0">> when Body =:= none -> {error, ok_status_without_message};
        <<"0">> -> message(Body);
        none -> {error, no_grpc_status};
        S ->
            Message = percent_decode(field(<<"grpc-message">>, Fields)),
            case catch binary_to_integer(S) of
                Code when Code =:= 4; Code =:= 14 ->
                    {error, {grpc_status, Code, Message}};
                Code when is_integer(Code), Code >= 1, Code =< 16 ->
                    {ok, error, <<"grpc-status ", S/binary, ": ", Message/binary>>};
                _ ->
                    {error, {unknown_grpc_status, binary:part(S, 0, min(20, byte_size(S)))}}
            end
    end.

message({#st{data = Data}, Op}) ->
    case iolist_to_binary(lists:reverse(Data)) of
        <<0, Len:32, Msg:Len/binary>> -> decode(Op, Msg);
        <<1, _:32, _/binary>> -> {error, compressed_reply_not_asked_for};
        Other -> {error, {bad_grpc_message_framing, byte_size(Other)}}
    end.

decode(echo, Msg) ->
    case bench_pb_codec:decode_blob(Msg) of
        {ok, Data} -> {ok, ok, Data};
        {error, Why} -> {ok, error, iolist_to_binary(io_lib:format("bad Blob: ~0p", [Why]))}
    end;
decode(diff, Msg) ->
    case bench_pb_codec:decode_diff_reply(Msg) of
        {ok, Opcodes} -> {ok, ok, {value, Opcodes}};
        {error, Why} -> {ok, error, iolist_to_binary(io_lib:format("bad DiffReply: ~0p", [Why]))}
    end.

field(Name, Fields) ->
    case lists:keyfind(Name, 1, Fields) of
        {_, V} -> V;
        false -> none
    end.

percent_decode(none) -> <<>>;
percent_decode(Bin) -> percent_decode(Bin, <<>>).

percent_decode(<<$%, H1, H2, Rest/binary>>, Acc) ->
    case catch binary_to_integer(<<H1, H2>>, 16) of
        B when is_integer(B) -> percent_decode(Rest, <<Acc/binary, B>>);
        _ -> percent_decode(<<H1, H2, Rest/binary>>, <<Acc/binary, $%>>)
    end;
percent_decode(<<C, Rest/binary>>, Acc) -> percent_decode(Rest, <<Acc/binary, C>>);
percent_decode(<<>>, Acc) -> Acc.
