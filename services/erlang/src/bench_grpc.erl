%% @doc The grpc transport: `bench.v1.Bench/Echo' and `/Diff' over our own HTTP/2
%% (bench_h2_codec, bench_hpack_codec, bench_grpc_codec, bench_pb_codec). One process per
%% connection (bench_listener): it reads, decodes frames, answers each unary call as soon
%% as its request has ended, and writes what a batch of frames produced in one send.
%%
%% Flow control both ways: the peer may send at most the windows we advertised (more is
%% FLOW_CONTROL_ERROR), what we consume is given back with WINDOW_UPDATE once half a
%% window has been read; we never send DATA beyond the peer's connection and stream
%% windows (a response waits in its stream for WINDOW_UPDATE or a larger
%% SETTINGS_INITIAL_WINDOW_SIZE). Limits: SETTINGS_MAX_CONCURRENT_STREAMS advertised and
%% enforced (REFUSED_STREAM), SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced, a
%% request message up to the body limit + 64 KiB, request bytes buffered per connection
%% bounded, peer resets counted (ENHANCE_YOUR_CALM past a limit: rapid reset), a
%% handshake and an idle timeout. Errors are answered as RFC 9113 says: GOAWAY with the
%% code for connection errors, then close; RST_STREAM for stream errors.
-module(bench_grpc).

-export([start_link/1, connection/1, settings/0]).

-define(MAX_STREAMS, 100).
-define(MAX_HEADER_LIST, 16384).
-define(HEADER_TABLE, 4096).
-define(STREAM_WINDOW, 1048576).                 % SETTINGS_INITIAL_WINDOW_SIZE we advertise
-define(CONN_WINDOW, 16777216).                  % our connection window (WINDOW_UPDATE at start)
-define(DEFAULT_WINDOW, 65535).
-define(MAX_WINDOW, 16#7fffffff).
-define(MESSAGE_SLACK, 65536).
%% Request bytes one connection may hold: 17 messages at the limit (16 MiB + 64 KiB), so that 16
%% concurrent senders of 16 MiB bodies sharing one connection (grpcio shares its subchannels) are
%% all answered; past that a stream is RESOURCE_EXHAUSTED. Streams per connection are 100 at most.
-define(MAX_BUFFERED, 17 * (16 * 1024 * 1024 + 65536)).
-define(MAX_RESETS, 1000).
-define(CHUNK_RUN, 64).
-define(RECENT, 256).                              % closed stream ids remembered
%% Timeouts (ms), settings of the application (grpc_timeouts) with these defaults: the
%% client's preface and first SETTINGS, no stream open, streams open but nothing received.
-define(TIMEOUTS, #{handshake => 10000, idle => 120000, stalled => 60000}).
-define(SEND_TIMEOUT, 30000).

-type opts() :: #{host := inet:ip_address(), port := inet:port_number(),
                  acceptors := pos_integer()}.
-type sid() :: pos_integer().

-record(stream, {state = open :: open | half_closed,
                 op :: echo | diff | {reject, Response :: tuple()},
                 %% the request body, reversed: the last DATA payloads, and before them
                 %% runs of ?CHUNK_RUN payloads copied into one binary each (a body sent as
                 %% 1-byte frames must not keep a list cell and sub-binary per byte)
                 chunks = [] :: [binary()],
                 nchunks = 0 :: non_neg_integer(),
                 runs = [] :: [binary()],
                 size = 0 :: non_neg_integer(),          % DATA bytes received
                 held = 0 :: non_neg_integer(),          % of which kept in chunks
                 content_length = none :: none | non_neg_integer(),
                 recv_window = ?STREAM_WINDOW :: integer(),
                 recv_unacked = 0 :: non_neg_integer(),
                 send_window :: integer(),
                 %% a response waiting for window: DATA still to send, then the trailers
                 %% (none: the last DATA frame ends the stream)
                 pending = none :: none | {binary(), binary() | none}}).

-record(conn, {sock :: gen_tcp:socket(),
               dec :: bench_h2_codec:decoder(),
               hpack :: bench_hpack_codec:decoder(),
               handshake = true :: boolean(),   % until the client's first SETTINGS
               first_block = true :: boolean(), % our next field block is our first
               peer_max_frame = 16384 :: pos_integer(),
               peer_initial_window = ?DEFAULT_WINDOW :: integer(),
               send_window = ?DEFAULT_WINDOW :: integer(),
               recv_window = ?CONN_WINDOW :: integer(),
               recv_unacked = 0 :: non_neg_integer(),
               buffered = 0 :: non_neg_integer(),
               streams = #{} :: #{sid() => #stream{}},
               waiting = [] :: [sid()],           % streams with a pending response, oldest first
               last_sid = 0 :: non_neg_integer(),
               closed = {#{}, queue:new()} :: recent(),   % ended: frames now STREAM_CLOSED
               reset = {#{}, queue:new()} :: recent(),    % reset by us: DATA ignored
               resets = 0 :: non_neg_integer(),
               completed = 0 :: non_neg_integer(),
               goaway = false :: boolean(),
               max_msg :: pos_integer(),
               timeouts :: #{handshake | idle | stalled := pos_integer()},
               out = [] :: iolist()}).            % reversed
-type recent() :: {#{sid() => true}, queue:queue(sid())}.

%% @doc Starts the listener and its acceptors; each connection runs connection/1.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    bench_listener:start_link(Opts#{name => ?MODULE, module => ?MODULE}).

%% @doc The SETTINGS we send first (also logged at start).
-spec settings() -> [{atom(), non_neg_integer()}].
settings() ->
    [{max_concurrent_streams, ?MAX_STREAMS}, {initial_window_size, ?STREAM_WINDOW},
     {max_header_list_size, ?MAX_HEADER_LIST}].

%% @doc One client connection: our SETTINGS and connection window, then frames until it
%% closes, times out or breaks the protocol.
-spec connection(gen_tcp:socket()) -> ok.
connection(Sock) ->
    receive {go, Sock} -> ok end,
    %% A client that stops reading must not block this process in send/2 for ever.
    _ = inet:setopts(Sock, [{send_timeout, ?SEND_TIMEOUT}, {send_timeout_close, true}]),
    #{max_body_bytes := MaxBody} = bench_ops:settings(),
    Preface = [bench_h2_codec:settings(settings()),
               bench_h2_codec:window_update(0, ?CONN_WINDOW - ?DEFAULT_WINDOW)],
    case gen_tcp:send(Sock, Preface) of
        ok ->
            loop(#conn{sock = Sock, dec = bench_h2_codec:new(),
                       hpack = bench_hpack_codec:new_decoder(?HEADER_TABLE),
                       max_msg = MaxBody + ?MESSAGE_SLACK,
                       timeouts = maps:merge(?TIMEOUTS, application:get_env(bench, grpc_timeouts, #{}))});
        {error, _} ->
            gen_tcp:close(Sock)
    end.

loop(#conn{sock = Sock} = C) ->
    case gen_tcp:recv(Sock, 0, timeout(C)) of
        {ok, Data} ->
            {ok, Events, Dec} = bench_h2_codec:decode(Data, C#conn.dec),
            case events(Events, C#conn{dec = Dec}) of
                {ok, C1} ->
                    case flush_out(C1) of
                        {ok, C2} when C2#conn.goaway, map_size(C2#conn.streams) =:= 0 ->
                            %% The peer said GOAWAY and nothing is left to answer.
                            gen_tcp:close(Sock);
                        {ok, C2} ->
                            loop(C2);
                        {error, _} ->
                            gen_tcp:close(Sock)
                    end;
                {close, Code, Why, C1} ->
                    close(C1, Code, Why)
            end;
        {error, timeout} ->
            close(C, no_error, timeout);
        {error, _Closed} ->
            gen_tcp:close(Sock)
    end.

timeout(#conn{handshake = true, timeouts = #{handshake := T}}) -> T;
timeout(#conn{streams = S, timeouts = #{idle := T}}) when map_size(S) =:= 0 -> T;
timeout(#conn{timeouts = #{stalled := T}}) -> T.

flush_out(#conn{out = []} = C) ->
    {ok, C};
flush_out(#conn{sock = Sock, out = Out} = C) ->
    case gen_tcp:send(Sock, lists:reverse(Out)) of
        ok -> {ok, C#conn{out = []}};
        {error, _} = Error -> Error
    end.

%% A connection error: what was produced so far, GOAWAY, then close once the peer has had
%% a moment to read it (closing with unread input would reset the connection and could
%% discard the GOAWAY).
close(#conn{sock = Sock, last_sid = Last} = C, Code, Why) ->
    case Code of
        no_error -> ok;
        _ -> logger:notice("grpc peer ~s: connection error ~s (~s)", [peer(Sock), Code, Why])
    end,
    C1 = emit(bench_h2_codec:goaway(Last, Code, atom_to_binary(Why)), C),
    _ = flush_out(C1),
    _ = gen_tcp:shutdown(Sock, write),
    drain(Sock, erlang:monotonic_time(millisecond) + 1000, 100),
    gen_tcp:close(Sock).

drain(_Sock, _Deadline, 0) ->
    ok;
drain(Sock, Deadline, N) ->
    case Deadline - erlang:monotonic_time(millisecond) of
        Left when Left > 0 ->
            case gen_tcp:recv(Sock, 0, Left) of
                {ok, _} -> drain(Sock, Deadline, N - 1);
                {error, _} -> ok
            end;
        _ ->
            ok
    end.

emit(Frame, #conn{out = Out} = C) ->
    C#conn{out = [Frame | Out]}.

%% -- frames -------------------------------------------------------------------------------

events([], C) ->
    {ok, C};
events([Event | Rest], C) ->
    case event(Event, C) of
        {ok, C1} -> events(Rest, C1);
        {close, _, _, _} = Close -> Close
    end.

event({connection_error, Code, Why}, C) ->
    {close, Code, Why, C};
event({settings, Settings}, C) ->
    case apply_settings(Settings, C) of
        {ok, C1} -> {ok, flush(emit(bench_h2_codec:settings_ack(), C1#conn{handshake = false}))};
        {close, _, _, _} = Close -> Close
    end;
event(settings_ack, C) ->
    {ok, C};
event({ping, Opaque}, C) ->
    {ok, emit(bench_h2_codec:ping_ack(Opaque), C)};
event({ping_ack, _}, C) ->
    {ok, C};
event({goaway, _Last, _Code, _Debug}, C) ->
    {ok, C#conn{goaway = true}};
event({push_promise, _Sid}, C) ->
    %% A client cannot push (RFC 9113 8.4).
    {close, protocol_error, push_promise_from_client, C};
event({priority, Sid, Sid}, C) ->
    {ok, stream_error(Sid, protocol_error, C)};
event({priority, _Sid, _Dep}, C) ->
    %% Priority signals are ignored, as RFC 9113 5.3.2 allows.
    {ok, C};
event({stream_error, Sid, _Code, zero_window_update}, #conn{last_sid = Last} = C) when Sid > Last ->
    %% Any WINDOW_UPDATE on an idle stream is a connection error (5.1).
    {close, protocol_error, window_update_on_idle_stream, C};
event({stream_error, Sid, Code, _Why}, C) ->
    {ok, stream_error(Sid, Code, C)};
event({window_update, 0, Inc}, #conn{send_window = W} = C) ->
    case W + Inc > ?MAX_WINDOW of
        true -> {close, flow_control_error, window_overflow, C};
        false -> {ok, flush(C#conn{send_window = W + Inc})}
    end;
event({window_update, Sid, Inc}, #conn{streams = Streams} = C) ->
    case Streams of
        #{Sid := #stream{send_window = W}} when W + Inc > ?MAX_WINDOW ->
            {ok, stream_error(Sid, flow_control_error, C)};
        #{Sid := #stream{send_window = W} = S} ->
            {ok, flush(C#conn{streams = Streams#{Sid := S#stream{send_window = W + Inc}}})};
        _ when Sid > C#conn.last_sid ->
            {close, protocol_error, window_update_on_idle_stream, C};
        _ ->
            {ok, C}
    end;
event({rst_stream, Sid, _Code}, #conn{streams = Streams} = C) ->
    case Streams of
        #{Sid := _} ->
            C1 = end_stream(Sid, closed, C),
            Resets = C1#conn.resets + 1,
            case Resets > ?MAX_RESETS andalso Resets > C1#conn.completed of
                true -> {close, enhance_your_calm, too_many_resets, C1};
                false -> {ok, C1#conn{resets = Resets}}
            end;
        _ when Sid > C#conn.last_sid ->
            {close, protocol_error, rst_stream_on_idle_stream, C};
        _ ->
            {ok, C}
    end;
event({headers, Sid, EndStream, Block, Dep}, #conn{hpack = H} = C) ->
    %% Decoded first, whatever becomes of the stream: the dynamic table is shared.
    case bench_hpack_codec:decode(Block, ?MAX_HEADER_LIST, H) of
        {error, {compression_error, Why}} ->
            {close, compression_error, Why, C};
        {Result, H1} ->
            headers(Sid, EndStream, {Result, []}, Dep, C#conn{hpack = H1});
        {ok, Headers, H1} ->
            headers(Sid, EndStream, {ok, Headers}, Dep, C#conn{hpack = H1})
    end;
event({data, Sid, EndStream, Data, FlowLen}, C) ->
    case C#conn.recv_window - FlowLen of
        W when W < 0 ->
            {close, flow_control_error, connection_window_exceeded, C};
        W ->
            data(Sid, EndStream, Data, FlowLen, ack_connection(FlowLen, C#conn{recv_window = W}))
    end.

%% What the peer sends on the connection is given back at once (the stream windows and
%% the buffer limit bound what is held), in one WINDOW_UPDATE per half window.
ack_connection(FlowLen, #conn{recv_unacked = U, recv_window = W} = C) ->
    case U + FlowLen of
        U1 when U1 >= ?CONN_WINDOW div 2 ->
            emit(bench_h2_codec:window_update(0, U1), C#conn{recv_unacked = 0, recv_window = W + U1});
        U1 ->
            C#conn{recv_unacked = U1}
    end.

apply_settings([], C) ->
    {ok, C};
apply_settings([{4, New} | Rest], #conn{peer_initial_window = Old, streams = Streams} = C) ->
    %% SETTINGS_INITIAL_WINDOW_SIZE changes every stream's send window by the difference
    %% (6.9.2); a window may go negative, not past 2^31-1.
    Delta = New - Old,
    Streams1 = maps:map(fun(_, #stream{send_window = W} = S) -> S#stream{send_window = W + Delta} end,
                        Streams),
    case [x || #stream{send_window = W} <- maps:values(Streams1), W > ?MAX_WINDOW] of
        [] -> apply_settings(Rest, C#conn{peer_initial_window = New, streams = Streams1});
        _ -> {close, flow_control_error, initial_window_overflow, C}
    end;
apply_settings([{5, Size} | Rest], C) ->
    apply_settings(Rest, C#conn{peer_max_frame = Size});
apply_settings([_ | Rest], C) ->
    %% HEADER_TABLE_SIZE: our encoder never indexes; ENABLE_PUSH, MAX_CONCURRENT_STREAMS:
    %% we never push; MAX_HEADER_LIST_SIZE: our field sections are a few bytes.
    apply_settings(Rest, C).

%% -- streams ------------------------------------------------------------------------------

headers(Sid, _EndStream, _Headers, _Dep, C) when Sid rem 2 =:= 0 ->
    {close, protocol_error, even_stream_id, C};
headers(Sid, EndStream, {Result, Headers}, _Dep, #conn{streams = Streams} = C)
  when is_map_key(Sid, Streams) ->
    case maps:get(Sid, Streams) of
        #stream{state = half_closed} ->
            {ok, stream_error(Sid, stream_closed, C)};
        #stream{} when not EndStream ->
            %% Trailers must end the stream (8.1).
            {ok, stream_error(Sid, protocol_error, C)};
        #stream{} = S ->
            case Result =:= ok andalso bench_grpc_codec:check_trailers(Headers) =:= ok of
                true -> {ok, request_ended(Sid, S, C)};
                false -> {ok, stream_error(Sid, protocol_error, C)}
            end
    end;
headers(Sid, _EndStream, _Headers, _Dep, #conn{last_sid = Last} = C) when Sid =< Last ->
    case {is_recent(Sid, C#conn.reset), is_recent(Sid, C#conn.closed)} of
        %% We reset it (e.g. answered a too large message early): the client's trailers
        %% may still come, and are ignored (5.4.2); their block was decoded above.
        {true, _} -> {ok, C};
        {false, true} -> {close, stream_closed, headers_on_closed_stream, C};
        {false, false} -> {close, protocol_error, stream_id_not_increasing, C}
    end;
headers(Sid, EndStream, {Result, Headers}, Dep, #conn{streams = Streams} = C0) ->
    C = C0#conn{last_sid = Sid},
    if
        Dep =:= Sid ->
            {ok, stream_error(Sid, protocol_error, C)};
        map_size(Streams) >= ?MAX_STREAMS ->
            C1 = stream_error(Sid, refused_stream, C),
            {ok, C1#conn{resets = C1#conn.resets + 1}};
        Result =:= too_large ->
            Message = iolist_to_binary(io_lib:format("header list over ~b bytes", [?MAX_HEADER_LIST])),
            {ok, open(Sid, EndStream, {reject, {grpc, too_large, Message}}, none, C)};
        true ->
            case bench_grpc_codec:check_request(Headers) of
                {error, {malformed, _Why}} ->
                    {ok, stream_error(Sid, protocol_error, C)};
                {ok, Req} ->
                    Op = case bench_grpc_codec:grpc_request(Req) of
                             {ok, Method} -> Method;
                             {http, Status} -> {reject, {http, Status}};
                             {grpc, Code, Message} -> {reject, {grpc, Code, Message}}
                         end,
                    {ok, open(Sid, EndStream, Op, maps:get(content_length, Req), C)}
            end
    end.

open(Sid, EndStream, Op, ContentLength, #conn{streams = Streams} = C) ->
    S = #stream{op = Op, content_length = ContentLength, send_window = C#conn.peer_initial_window},
    C1 = C#conn{streams = Streams#{Sid => S}},
    case EndStream of
        true -> request_ended(Sid, S, C1);
        false -> C1
    end.

data(Sid, EndStream, Data, FlowLen, #conn{streams = Streams} = C) ->
    case Streams of
        #{Sid := #stream{state = half_closed}} ->
            {ok, stream_error(Sid, stream_closed, C)};
        #{Sid := #stream{recv_window = W}} when FlowLen > W ->
            {ok, stream_error(Sid, flow_control_error, C)};
        #{Sid := S} ->
            stream_data(Sid, EndStream, Data, FlowLen, S, C);
        _ when Sid > C#conn.last_sid ->
            {close, protocol_error, data_on_idle_stream, C};
        _ ->
            case is_recent(Sid, C#conn.reset) of
                %% We reset it; the peer may not know yet (5.4.2): ignored.
                true -> {ok, C};
                false -> {close, stream_closed, data_on_closed_stream, C}
            end
    end.

stream_data(Sid, EndStream, Data, FlowLen, S0, C) ->
    #stream{recv_window = W, recv_unacked = U, size = Size0} = S0,
    Size = Size0 + byte_size(Data),
    S1 = S0#stream{recv_window = W - FlowLen, size = Size},
    case S1 of
        #stream{content_length = CL} when CL =/= none, Size > CL ->
            {ok, stream_error(Sid, protocol_error, C)};
        #stream{op = {reject, _}} ->
            %% The answer does not depend on the body: dropped, but still acknowledged.
            stream_more(Sid, EndStream, FlowLen, S1, C);
        #stream{} when Size > C#conn.max_msg + 5 ->
            answer_early(Sid, {too_large, too_large_message(Size - 5, C)}, C);
        #stream{} when C#conn.buffered + byte_size(Data) > ?MAX_BUFFERED ->
            answer_early(Sid, {too_large, <<"too many request bytes in flight on this connection">>}, C);
        #stream{held = Held} ->
            case announced_too_large(Size0, Data, C) of
                {true, Len} ->
                    answer_early(Sid, {too_large, too_large_message(Len, C)}, C);
                false ->
                    C1 = C#conn{buffered = C#conn.buffered + byte_size(Data)},
                    S2 = add_chunk(Data, S1#stream{held = Held + byte_size(Data), recv_unacked = U}),
                    stream_more(Sid, EndStream, FlowLen, S2, C1)
            end
    end.

add_chunk(<<>>, S) ->
    S;
add_chunk(Data, #stream{chunks = Chunks, nchunks = N, runs = Runs} = S) when N + 1 >= ?CHUNK_RUN ->
    S#stream{chunks = [], nchunks = 0, runs = [iolist_to_binary(lists:reverse(Chunks, [Data])) | Runs]};
add_chunk(Data, #stream{chunks = Chunks, nchunks = N} = S) ->
    S#stream{chunks = [Data | Chunks], nchunks = N + 1}.

%% The message's length prefix says at once whether it can be accepted.
announced_too_large(0, <<_, Len:32, _/binary>>, #conn{max_msg = Max}) when Len > Max ->
    {true, Len};
announced_too_large(_, _, _) ->
    false.

too_large_message(Len, #conn{max_msg = Max}) ->
    iolist_to_binary(io_lib:format("message of ~b bytes is over the limit of ~b", [Len, Max])).

stream_more(Sid, true, _FlowLen, S, C) ->
    {ok, request_ended(Sid, S, put_stream(Sid, S, C))};
stream_more(Sid, false, FlowLen, #stream{recv_unacked = U, recv_window = W} = S, C) ->
    case U + FlowLen of
        U1 when U1 >= ?STREAM_WINDOW div 2 ->
            C1 = emit(bench_h2_codec:window_update(Sid, U1), C),
            {ok, put_stream(Sid, S#stream{recv_unacked = 0, recv_window = W + U1}, C1)};
        U1 ->
            {ok, put_stream(Sid, S#stream{recv_unacked = U1}, C)}
    end.

put_stream(Sid, S, #conn{streams = Streams} = C) ->
    C#conn{streams = Streams#{Sid => S}}.

%% A response before the request has ended (the message is too large): the answer, then
%% RST_STREAM NO_ERROR so that the client stops sending (8.1).
answer_early(Sid, {Code, Message}, C) ->
    C1 = respond(Sid, trailers_only(Code, Message), C),
    C2 = emit(bench_h2_codec:rst_stream(Sid, no_error), C1),
    {ok, end_stream(Sid, reset, C2)}.

%% The request has ended (END_STREAM): check what the headers promised, run the call,
%% start the response.
request_ended(Sid, #stream{content_length = CL, size = Size}, C) when CL =/= none, CL =/= Size ->
    stream_error(Sid, protocol_error, C);
request_ended(Sid, #stream{op = Op, chunks = Chunks, runs = Runs, held = Held} = S, C) ->
    C1 = put_stream(Sid, S#stream{state = half_closed, chunks = [], runs = [], held = 0},
                    C#conn{buffered = C#conn.buffered - Held}),
    Response = case Op of
                   {reject, Reject} -> rejection(Reject);
                   _ -> call(Op, iolist_to_binary(lists:reverse(Runs, lists:reverse(Chunks))),
                             C#conn.max_msg)
               end,
    respond(Sid, Response, C1).

rejection({http, Status}) ->
    {bench_grpc_codec:http_error(Status), http_body(Status), none};
rejection({grpc, Code, Message}) ->
    trailers_only(Code, Message).

http_body(405) -> <<"405 method not allowed: gRPC requests are POST\n">>;
http_body(415) -> <<"415 unsupported media type: gRPC requests are application/grpc\n">>.

trailers_only(Code, Message) ->
    {bench_grpc_codec:trailers_only(Code, Message), <<>>, none}.

%% -- calls --------------------------------------------------------------------------------

call(Op, Body, MaxMsg) ->
    Name = atom_to_binary(Op),
    case bench_grpc_codec:decode_message(Body, MaxMsg) of
        {ok, Msg} ->
            case bench_ops:safely(Name, fun() -> run(Op, Msg) end) of
                {ok, Reply} ->
                    {bench_grpc_codec:response_headers(),
                     iolist_to_binary(bench_grpc_codec:encode_message(Reply)),
                     bench_grpc_codec:trailers(ok, <<>>)};
                {error, Code, Message} ->
                    trailers_only(Code, Message)
            end;
        {error, Code, Message} ->
            trailers_only(Code, Message)
    end.

run(echo, Msg) ->
    case bench_pb_codec:decode_blob(Msg) of
        {ok, Data} ->
            %% the limit is on the data, not the encoded Blob (CONTRACT.md)
            case bench_ops:run(<<"echo">>, Data) of
                {ok, Reply} -> {ok, bench_pb_codec:encode_blob(Reply)};
                {error, _, _} = Error -> Error
            end;
        {error, {bad_protobuf, Why}} ->
            {error, bad_request, <<"Blob cannot be parsed: ", (atom_to_binary(Why))/binary>>}
    end;
run(diff, Msg) ->
    #{max_body_bytes := Max} = bench_ops:settings(),
    case byte_size(Msg) > Max of
        true ->
            {error, too_large, iolist_to_binary(io_lib:format("body is over the limit of ~b bytes",
                                                              [Max]))};
        false ->
            case bench_pb_codec:decode_diff_request(Msg) of
                {ok, A, B} ->
                    case bench_ops:diff_tokens(A, B) of
                        {ok, Opcodes} -> {ok, bench_pb_codec:encode_diff_reply(Opcodes)};
                        {error, _, _} = Error -> Error
                    end;
                {error, {bad_protobuf, Why}} ->
                    {error, bad_request,
                     <<"DiffRequest cannot be parsed: ", (atom_to_binary(Why))/binary>>}
            end
    end.

%% -- sending ------------------------------------------------------------------------------

%% A response: its field block at once (not flow-controlled), then DATA as the windows
%% allow, then the trailers (or END_STREAM on the last DATA when there are none).
respond(Sid, {Block, Data, Trailers}, C) ->
    C1 = field_block(Sid, Block, Data =:= <<>> andalso Trailers =:= none, C),
    case Data =:= <<>> andalso Trailers =:= none of
        true -> end_stream(Sid, closed, C1);
        false -> send_pending(Sid, Data, Trailers, C1)
    end.

field_block(Sid, Block, EndStream, #conn{first_block = First, peer_max_frame = Max} = C) ->
    %% Our first block tells the peer's decoder that our table size is 0 (RFC 7541 4.2).
    Block1 = case First of
                 true -> <<16#20, Block/binary>>;
                 false -> Block
             end,
    emit(bench_h2_codec:headers(Sid, Block1, EndStream, Max), C#conn{first_block = false}).

send_pending(Sid, Data, Trailers, #conn{streams = Streams} = C) ->
    S = maps:get(Sid, Streams),
    case send_data(Sid, Data, Trailers, S, C) of
        {done, C1} ->
            end_stream(Sid, closed, C1);
        {blocked, Rest, S1, C1} ->
            Waiting = case lists:member(Sid, C1#conn.waiting) of
                          true -> C1#conn.waiting;
                          false -> C1#conn.waiting ++ [Sid]
                      end,
            C1#conn{streams = Streams#{Sid := S1#stream{pending = {Rest, Trailers}}},
                    waiting = Waiting}
    end.

send_data(Sid, Data, Trailers, #stream{send_window = SW} = S, #conn{send_window = CW} = C) ->
    Allowed = lists:min([SW, CW, C#conn.peer_max_frame]),
    Size = byte_size(Data),
    if
        Size =< Allowed ->
            Last = Trailers =:= none,
            C1 = emit(bench_h2_codec:data(Sid, Data, Last),
                      C#conn{send_window = CW - Size}),
            C2 = case Trailers of
                     none -> C1;
                     _ -> field_block(Sid, Trailers, true, C1)
                 end,
            {done, C2};
        Allowed =< 0 ->
            {blocked, Data, S, C};
        true ->
            <<Chunk:Allowed/binary, Rest/binary>> = Data,
            C1 = emit(bench_h2_codec:data(Sid, Chunk, false), C#conn{send_window = CW - Allowed}),
            send_data(Sid, Rest, Trailers, S#stream{send_window = SW - Allowed}, C1)
    end.

%% After a window grew: continue the waiting responses, oldest first.
flush(#conn{waiting = []} = C) ->
    C;
flush(#conn{waiting = Waiting} = C) ->
    lists:foldl(fun(Sid, Acc) ->
                        case Acc#conn.streams of
                            #{Sid := #stream{pending = {Data, Trailers}} = S} ->
                                send_pending(Sid, Data, Trailers,
                                             Acc#conn{streams = (Acc#conn.streams)#{Sid := S#stream{pending = none}},
                                                      waiting = lists:delete(Sid, Acc#conn.waiting)});
                            _ ->
                                Acc#conn{waiting = lists:delete(Sid, Acc#conn.waiting)}
                        end
                end, C, Waiting).

%% A stream error: RST_STREAM with its code; the stream is forgotten.
stream_error(Sid, Code, C) ->
    end_stream(Sid, reset, emit(bench_h2_codec:rst_stream(Sid, Code), C)).

%% A stream is done: `closed' (ended both ways, or reset by the peer: later frames are
%% STREAM_CLOSED) or `reset' (by us: its DATA in flight is ignored).
end_stream(Sid, How, #conn{streams = Streams} = C) ->
    {Buffered, Completed} = case Streams of
                                #{Sid := #stream{state = open, held = Held}} -> {Held, 0};
                                #{Sid := #stream{pending = none}} when How =:= closed -> {0, 1};
                                _ -> {0, 0}
                            end,
    C1 = C#conn{streams = maps:remove(Sid, Streams),
                waiting = lists:delete(Sid, C#conn.waiting),
                buffered = C#conn.buffered - Buffered,
                completed = C#conn.completed + Completed,
                last_sid = max(Sid, C#conn.last_sid)},
    case How of
        closed -> C1#conn{closed = remember(Sid, C1#conn.closed)};
        reset -> C1#conn{reset = remember(Sid, C1#conn.reset), closed = remember(Sid, C1#conn.closed)}
    end.

remember(Sid, {Set, _Q} = Recent) when is_map_key(Sid, Set) ->
    Recent;
remember(Sid, {Set, Q}) ->
    case map_size(Set) >= ?RECENT of
        true ->
            {{value, Old}, Q1} = queue:out(Q),
            {maps:put(Sid, true, maps:remove(Old, Set)), queue:in(Sid, Q1)};
        false ->
            {Set#{Sid => true}, queue:in(Sid, Q)}
    end.

is_recent(Sid, {Set, _Q}) ->
    is_map_key(Sid, Set).

peer(Sock) ->
    case inet:peername(Sock) of
        {ok, {Ip, Port}} -> [inet:ntoa(Ip), $:, integer_to_list(Port)];
        {error, _} -> "?"
    end.
