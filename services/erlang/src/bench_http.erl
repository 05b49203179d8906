%% @doc The http transport on mochiweb (chosen by measurement, see README.md): HTTP/1.1
%% with keep-alive, `POST /echo', `POST /diff', `GET /health'. mochiweb serves each
%% connection in its own process, under a socket server that traps exits: a crash while
%% serving one connection never takes the listener down.
-module(bench_http).

-export([start_link/1, handle/1, loop/2]).
-export([parse_chunk_size/1, transfer_encoding/1, keep_alive/2]).

-type opts() :: #{host := inet:ip_address(), port := inet:port_number(),
                  acceptors := pos_integer()}.

-define(JSON, {<<"Content-Type">>, <<"application/json">>}).
-define(DRAIN_MAX, 64 * 1024 * 1024).
-define(DRAIN_TIMEOUT_MS, 2000).
-define(OCTETS, {<<"Content-Type">>, <<"application/octet-stream">>}).
%% Waiting for the next request line on a new or kept-alive connection.
-define(IDLE_TIMEOUT_MS, 60000).
%% The request line from its first byte (5 to 10 s: the first byte may come during a quiet
%% slice of this length, see first_bytes/3), and the header fields once the request line has come.
-define(HEADER_TIMEOUT_MS, 5000).
-define(MAX_HEADERS, 1000).
-define(BODY_TIMEOUT_MS, 10000).
-define(MAX_CHUNK_LINE, 4096).
%% A request line read in raw mode (first_bytes/3) longer than this is refused.
-define(MAX_REQUEST_LINE, 65536).

%% @doc Starts the mochiweb listener.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(#{host := Host, port := Port, acceptors := N}) ->
    %% mochiweb's socket server and request object, but our own connection loop (instead of
    %% mochiweb_http's): a bounded header section, a 400 with the contract's body for a
    %% malformed request line or header, a prompt close when the peer half-closes, and
    %% persistence decided and announced per RFC 9112 (respond/5).
    _ = mochiweb_clock:start(),   % the Date cache of mochiweb's own 100 Continue (recv_body/2)
    mochiweb_socket_server:start_link([{name, ?MODULE}, {ip, Host}, {port, Port},
                                       {acceptor_pool_size, N}, {nodelay, true},
                                       {loop, {?MODULE, loop}}]).

%% @doc One connection: requests until it closes (mochiweb_http:loop/3's job, bounded).
-spec loop(term(), term()) -> no_return().
loop(Socket, Opts) ->
    ok = mochiweb_socket:setopts(Socket, [{packet, http}]),
    request_line(Socket, Opts, ?IDLE_TIMEOUT_MS).

request_line(Socket, Opts, Timeout) ->
    request_line(Socket, Opts, Timeout, idle).

%% `idle': waiting for a request (Timeout is what is left of ?IDLE_TIMEOUT_MS); `started': its
%% first bytes have come, and the line must be whole within ?HEADER_TIMEOUT_MS.
request_line(Socket, Opts, Timeout, State) ->
    ok = mochiweb_socket:setopts(Socket, [{active, once}]),
    Slice = min(Timeout, ?HEADER_TIMEOUT_MS),
    receive
        {http, _, _} = Line ->
            on_request_line(Line, Socket, Opts);
        {tcp_closed, _} ->
            close_socket(Socket);
        {tcp_error, _, _} ->
            close_socket(Socket);
        {ssl_closed, _} ->
            close_socket(Socket)
    after Slice ->
        %% Stop the socket's delivery, then look again: a line that came as the slice ended is
        %% in the mailbox now (the port's messages come before its reply to setopts).
        ok = mochiweb_socket:setopts(Socket, [{active, false}]),
        receive
            {http, _, _} = Late ->
                on_request_line(Late, Socket, Opts);
            {tcp_closed, _} ->
                close_socket(Socket);
            {tcp_error, _, _} ->
                close_socket(Socket)
        after 0 ->
            case State of
                idle -> first_bytes(Socket, Opts, Timeout - Slice);
                %% a request line begun and not finished within ?HEADER_TIMEOUT_MS (slowloris)
                started -> close_socket(Socket)
            end
        end
    end.

on_request_line({http, _, {http_request, Method, Path, Version}}, Socket, Opts) ->
    ok = mochiweb_socket:setopts(Socket, [{packet, httph}]),
    Deadline = erlang:monotonic_time(millisecond) + ?HEADER_TIMEOUT_MS,
    headers(Socket, Opts, {Method, Path, Version}, [], 0, Deadline);
on_request_line({http, _, {http_error, Blank}}, Socket, Opts) when Blank =:= "\r\n"; Blank =:= "\n" ->
    request_line(Socket, Opts, ?HEADER_TIMEOUT_MS, started);
on_request_line({http, _, _}, Socket, _Opts) ->
    %% http_error, or a status line (http_response) where a request line belongs.
    raw_bad_request(Socket, <<"malformed request line">>).

%% No whole request line within a slice. {packet, http} shows nothing of a partial line, so look
%% in raw mode: bytes already buffered come at once (a partial line), else wait for the first
%% ones for the rest of the idle timeout. Only a connection quiet for a whole slice comes here:
%% requests on a busy connection never leave {packet, http}.
first_bytes(Socket, _Opts, IdleLeft) when IdleLeft =< 0 ->
    close_socket(Socket);
first_bytes(Socket, Opts, IdleLeft) ->
    ok = mochiweb_socket:setopts(Socket, [{packet, raw}, {active, once}]),
    receive
        {tcp, _, Data} ->
            whole_line(Socket, Opts, Data, erlang:monotonic_time(millisecond) + ?HEADER_TIMEOUT_MS);
        {tcp_closed, _} ->
            close_socket(Socket);
        {tcp_error, _, _} ->
            close_socket(Socket)
    after IdleLeft ->
        close_socket(Socket)
    end.

%% Raw bytes until the first line has ended, within ?HEADER_TIMEOUT_MS of the first of them;
%% then they are given back to the socket (gen_tcp:unrecv/2) for the http parser. Given back
%% while the line is still partial, the next {packet, http} read fails with emsgsize.
whole_line(Socket, Opts, Buffer, Deadline) ->
    case binary:match(Buffer, <<"\n">>) of
        nomatch when byte_size(Buffer) > ?MAX_REQUEST_LINE ->
            raw_bad_request(Socket, <<"request line too long">>);
        nomatch ->
            ok = mochiweb_socket:setopts(Socket, [{active, once}]),
            receive
                {tcp, _, More} ->
                    whole_line(Socket, Opts, <<Buffer/binary, More/binary>>, Deadline);
                {tcp_closed, _} ->
                    close_socket(Socket);
                {tcp_error, _, _} ->
                    close_socket(Socket)
            after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
                %% a request line begun and not finished in time (slowloris)
                close_socket(Socket)
            end;
        _ ->
            ok = gen_tcp:unrecv(Socket, Buffer),
            ok = mochiweb_socket:setopts(Socket, [{packet, http}]),
            request_line(Socket, Opts, ?HEADER_TIMEOUT_MS, started)
    end.

headers(Socket, _Opts, _Request, _Headers, ?MAX_HEADERS, _Deadline) ->
    raw_bad_request(Socket, <<"too many header fields">>);
headers(Socket, Opts, Request, Headers, Count, Deadline) ->
    ok = mochiweb_socket:setopts(Socket, [{active, once}]),
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {http, _, http_eoh} ->
            ok = mochiweb_socket:setopts(Socket, [{packet, raw}]),
            Req = mochiweb:new_request({Socket, Opts, Request, lists:reverse(Headers)}),
            handle(Req),
            after_response(Req);
        {http, _, {http_header, _, Name, _, Value}} ->
            headers(Socket, Opts, Request, [{Name, Value} | Headers], Count + 1, Deadline);
        {http, _, _} ->
            raw_bad_request(Socket, <<"malformed header field">>);
        {tcp_closed, _} ->
            close_socket(Socket);
        {tcp_error, _, _} ->
            close_socket(Socket);
        {ssl_closed, _} ->
            close_socket(Socket)
    after Left ->
        close_socket(Socket)
    end.

after_response(Req) ->
    Socket = mochiweb_request:get(socket, Req),
    case persists(Req) of
        false ->
            close_socket(Socket);
        true ->
            Opts = mochiweb_request:get(opts, Req),
            mochiweb_request:cleanup(Req),
            erlang:garbage_collect(),
            ?MODULE:loop(Socket, Opts)
    end.

close_socket(Socket) ->
    mochiweb_socket:close(Socket),
    exit(normal).

%% @doc Whether the connection persists after the response (RFC 9112 section 9.3), from the
%% request's version and Connection header: HTTP/1.1 and later unless `close' is among the
%% connection options, HTTP/1.0 only when `keep-alive' is (and `close' is not), HTTP/0.9 never.
%% Options are comma-separated and case-insensitive (mochiweb's own should_close/1 knows only
%% the exact values `close' and, for HTTP/1.0, `Keep-Alive').
-spec keep_alive({non_neg_integer(), non_neg_integer()}, undefined | string()) -> boolean().
keep_alive(Version, Connection) ->
    Options = case Connection of
                  undefined -> [];
                  _ -> [string:lowercase(string:trim(O)) || O <- string:split(Connection, ",", all)]
              end,
    case lists:member("close", Options) of
        true -> false;
        false when Version >= {1, 1} -> true;
        false when Version =:= {1, 0} -> lists:member("keep-alive", Options);
        false -> false
    end.

%% The request asked to persist, and its whole body was read (an unread body would be taken
%% for the next request).
persists(Req) ->
    keep_alive(mochiweb_request:get(version, Req),
               mochiweb_request:get_header_value("connection", Req))
        andalso (get(mochiweb_request_recv) =:= true
                 orelse (mochiweb_request:get_header_value("transfer-encoding", Req) =:= undefined
                         andalso content_length(Req) =:= {ok, 0})).

%% The whole response in one write, its Connection header saying what happens next: `close'
%% when the connection ends after it, `keep-alive' when an HTTP/1.0 connection persists (the
%% client would otherwise wait for the close). `close' mode ends it whatever the request asked.
respond(Req, Code, Headers, Body, Mode) ->
    Connection = case Mode =:= close orelse not persists(Req) of
                     true -> [<<"Connection: close\r\n">>];
                     false ->
                         case mochiweb_request:get(version, Req) of
                             {1, 0} -> [<<"Connection: keep-alive\r\n">>];
                             _ -> []
                         end
                 end,
    Head = [<<"HTTP/1.1 ">>, integer_to_binary(Code), $\s, reason(Code), <<"\r\n">>,
            [[K, <<": ">>, V, <<"\r\n">>] || {K, V} <- Headers],
            <<"Content-Length: ">>, integer_to_binary(iolist_size(Body)), <<"\r\n">>,
            Connection, <<"\r\n">>],
    Data = case mochiweb_request:get(method, Req) of
               'HEAD' -> Head;
               _ -> [Head, Body]
           end,
    case mochiweb_socket:send(mochiweb_request:get(socket, Req), Data) of
        ok -> ok;
        %% the client went away: mochiweb's way to end the connection
        _ -> exit(normal)
    end.

reason(200) -> <<"OK">>;
reason(400) -> <<"Bad Request">>;
reason(404) -> <<"Not Found">>;
reason(405) -> <<"Method Not Allowed">>;
reason(413) -> <<"Content Too Large">>;
reason(500) -> <<"Internal Server Error">>.

%% A 400 written directly (there is no request object yet), then close.
raw_bad_request(Socket, Message) ->
    Body = bench_ops:error_body(bad_request, Message),
    _ = mochiweb_socket:setopts(Socket, [{packet, raw}]),
    _ = mochiweb_socket:send(Socket, [<<"HTTP/1.1 400 Bad Request\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Connection: close\r\n"
                                        "Content-Length: ">>,
                                      integer_to_binary(iolist_size(Body)),
                                      <<"\r\n\r\n">>, Body]),
    close_socket(Socket).

%% @doc One request.
-spec handle(term()) -> term().
handle(Req) ->
    Method = mochiweb_request:get(method, Req),
    Path = path(mochiweb_request:get(raw_path, Req)),
    try route(Method, Path, Req)
    catch
        %% mochiweb's own way to end a connection (the client went away, or close/1).
        exit:normal ->
            exit(normal);
        %% A chunked body over the limit, found while reading it.
        exit:{body_too_large, _} ->
            reply_error(Req, too_large, <<"body is over the size limit">>, close),
            close(Req);
        Class:Reason:Stack ->
            logger:error("http ~0p ~s failed: ~0p:~0p ~0p", [Method, Path, Class, Reason, Stack]),
            reply_error(Req, internal, <<"internal error">>, close),
            close(Req)
    end.

path(RawPath) ->
    {Path, _Query, _Fragment} = mochiweb_util:urlsplit_path(RawPath),
    Path.

route('POST', "/echo", Req) -> op(<<"echo">>, Req);
route('POST', "/diff", Req) -> op(<<"diff">>, Req);
route('GET', "/health", Req) ->
    respond(Req, 200, [?JSON], bench_ops:health_body(), keep);
route(_Method, "/echo", Req) -> not_allowed("POST", Req);
route(_Method, "/diff", Req) -> not_allowed("POST", Req);
route(_Method, "/health", Req) -> not_allowed("GET", Req);
route(_Method, Path, Req) ->
    reply_error(Req, unknown_op, iolist_to_binary(["no such path: ", printable(Path)]), keep).

op(Op, Req) ->
    Max = maps:get(max_body_bytes, bench_ops:settings()),
    case transfer_encoding(mochiweb_request:get_header_value("transfer-encoding", Req)) of
        none -> op_length(Op, Req, Max);
        chunked -> op_chunked(Op, Req, Max);
        bad ->
            reply_error(Req, bad_request, <<"unsupported Transfer-Encoding; only chunked">>,
                        close),
            close(Req)
    end.

%% @doc The request's Transfer-Encoding: absent, exactly `chunked' (any case), or anything
%% else (unsupported, answered 400).
-spec transfer_encoding(undefined | string()) -> none | chunked | bad.
transfer_encoding(undefined) -> none;
transfer_encoding(Value) ->
    case string:lowercase(string:trim(Value)) of
        "chunked" -> chunked;
        _ -> bad
    end.

op_chunked(Op, Req, Max) ->
    continue(Req),
    case read_chunked(mochiweb_request:get(socket, Req), Max) of
        {ok, Body} ->
            %% mochiweb's own record that the body was read (for should_close/1).
            put(mochiweb_request_recv, true),
            run(Op, Body, Req);
        {error, too_large} ->
            reply_error(Req, too_large, <<"body is over the size limit">>, close),
            close(Req);
        {error, bad} ->
            reply_error(Req, bad_request, <<"malformed chunked body">>, close),
            close(Req);
        {error, closed} ->
            close(Req)
    end.

continue(Req) ->
    case mochiweb_request:get_header_value("expect", Req) of
        undefined -> ok;
        V ->
            case string:lowercase(V) of
                "100-continue" ->
                    mochiweb_socket:send(mochiweb_request:get(socket, Req),
                                         <<"HTTP/1.1 100 Continue\r\n\r\n">>);
                _ -> ok
            end
    end.

%% Reads exactly the chunked body, nothing past it (a pipelined request may follow): lines
%% in `{packet, line}' mode (at most ?MAX_CHUNK_LINE bytes), chunk data by exact length.
read_chunked(Socket, Max) ->
    Result = read_chunks(Socket, Max, 0, []),
    _ = mochiweb_socket:setopts(Socket, [{packet, raw}]),
    Result.

read_chunks(Socket, Max, Total, Acc) ->
    case read_line(Socket) of
        {ok, Line} ->
            case parse_chunk_size(Line) of
                error -> {error, bad};
                {ok, 0} ->
                    case read_trailers(Socket, 0) of
                        ok -> {ok, iolist_to_binary(lists:reverse(Acc))};
                        Error -> Error
                    end;
                {ok, Size} when Total + Size > Max -> {error, too_large};
                {ok, Size} ->
                    ok = mochiweb_socket:setopts(Socket, [{packet, raw}]),
                    case mochiweb_socket:recv(Socket, Size + 2, ?BODY_TIMEOUT_MS) of
                        {ok, <<Data:Size/binary, "\r\n">>} ->
                            read_chunks(Socket, Max, Total + Size, [Data | Acc]);
                        {ok, _} -> {error, bad};
                        {error, _} -> {error, closed}
                    end
            end;
        Error -> Error
    end.

read_trailers(_Socket, N) when N > ?MAX_HEADERS -> {error, bad};
read_trailers(Socket, N) ->
    case read_line(Socket) of
        {ok, <<>>} -> ok;
        {ok, _} -> read_trailers(Socket, N + 1);
        Error -> Error
    end.

%% One LF-terminated line, without its CRLF (or LF).
read_line(Socket) ->
    ok = mochiweb_socket:setopts(Socket, [{packet, line}, {packet_size, ?MAX_CHUNK_LINE}]),
    case mochiweb_socket:recv(Socket, 0, ?BODY_TIMEOUT_MS) of
        {ok, Line} ->
            case binary:split(Line, <<"\n">>) of
                [L, <<>>] -> {ok, string:trim(L, trailing, "\r")};
                _ -> {error, bad}
            end;
        {error, emsgsize} -> {error, bad};
        {error, _} -> {error, closed}
    end.

%% @doc A chunk-size line (extensions after `;' ignored): 1 to 16 hex digits.
-spec parse_chunk_size(binary()) -> {ok, non_neg_integer()} | error.
parse_chunk_size(Line) ->
    [Hex0 | _] = binary:split(Line, <<";">>),
    Hex = string:trim(Hex0, both, " \t"),
    case byte_size(Hex) of
        N when N >= 1, N =< 16 ->
            case lists:all(fun is_hex/1, binary_to_list(Hex)) of
                true -> {ok, binary_to_integer(Hex, 16)};
                false -> error
            end;
        _ -> error
    end.

is_hex(C) -> (C >= $0 andalso C =< $9) orelse (C >= $a andalso C =< $f)
                 orelse (C >= $A andalso C =< $F).

run(Op, Body, Req) ->
    case bench_ops:run(Op, Body) of
        {ok, Reply} when Op =:= <<"echo">> ->
            respond(Req, 200, [?OCTETS], Reply, keep);
        {ok, Reply} ->
            respond(Req, 200, [?JSON], Reply, keep);
        {error, Code, Message} ->
            reply_error(Req, Code, Message, keep)
    end.

op_length(Op, Req, Max) ->
    case content_length(Req) of
        {ok, Length} when Length > Max ->
            %% Answered before reading the body; the connection is closed after. A body
            %% of modest size is read and dropped first, so that closing with unread data
            %% does not reset the connection before the client has read the answer.
            Response = reply_error(Req, too_large, iolist_to_binary(io_lib:format(
                    "Content-Length ~b is over the limit of ~b bytes", [Length, Max])), close),
            Length =< ?DRAIN_MAX andalso drain(Req, Length),
            close(Req),
            Response;
        {ok, _} ->
            Body = try mochiweb_request:recv_body(Max, Req) of
                       undefined -> <<>>;
                       B -> B
                   catch
                       %% The client sent less than its Content-Length and stopped (EOF,
                       %% reset or timeout): nothing to answer, the connection is closed.
                       exit:Reason when Reason =/= normal ->
                           close(Req)
                   end,
            run(Op, Body, Req);
        error ->
            reply_error(Req, bad_request, <<"malformed Content-Length">>, close),
            close(Req)
    end.

drain(_Req, 0) ->
    true;
drain(Req, Left) ->
    Chunk = min(Left, 1 bsl 20),
    try mochiweb_request:recv(Chunk, ?DRAIN_TIMEOUT_MS, Req) of
        _ -> drain(Req, Left - Chunk)
    catch
        %% mochiweb exits when the client stops sending or goes away: done either way.
        exit:_ -> true
    end.

content_length(Req) ->
    case mochiweb_request:get_header_value("content-length", Req) of
        undefined -> {ok, 0};
        Value ->
            try list_to_integer(string:trim(Value)) of
                N when N >= 0 -> {ok, N};
                _ -> error
            catch error:badarg -> error
            end
    end.

not_allowed(Allow, Req) ->
    Body = bench_ops:error_body(bad_request, iolist_to_binary(["method not allowed; use ",
                                                               Allow])),
    respond(Req, 405, [?JSON, {<<"Allow">>, Allow}], Body, keep).

reply_error(Req, Code, Message, Mode) ->
    respond(Req, status(Code), [?JSON], bench_ops:error_body(Code, Message), Mode).

%% Ends the connection after a response sent with `Connection: close' (mochiweb would
%% keep it open once the body has been read): the way mochiweb_http closes one itself.
close(Req) ->
    mochiweb_socket:close(mochiweb_request:get(socket, Req)),
    exit(normal).

status(bad_request) -> 400;
status(unknown_op) -> 404;
status(too_large) -> 413;
status(internal) -> 500.

printable(Path) ->
    Short = lists:sublist(Path, 64),
    [if C >= 32, C < 127 -> C; true -> $? end || C <- Short].
