%% @doc The http transport: HTTP/1.1 with keep-alive, `POST /echo', `POST /diff',
%% `GET /health'. mochiweb's socket server accepts and runs each connection in its own
%% process (a crash while serving one never takes the listener down); the connection loop,
%% the request parsing (erlang:decode_packet/3) and the responses are this module's.
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
%% The request line from its first byte, and the header fields once the request line has come.
-define(HEADER_TIMEOUT_MS, 5000).
-define(MAX_HEADERS, 1000).
-define(BODY_TIMEOUT_MS, 10000).
-define(MAX_CHUNK_LINE, 4096).
%% A request line (or one header field) longer than this is refused.
-define(MAX_REQUEST_LINE, 65536).
%% A connection that has just carried more than this garbage-collects before it waits again.
-define(GC_AFTER_BYTES, 1 bsl 20).
%% The largest single read of a Content-Length body.
-define(BODY_READ, 1 bsl 20).

%% @doc Starts the mochiweb listener.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(#{host := Host, port := Port, acceptors := N}) ->
    %% mochiweb's socket server (listener and acceptor pool), our own connection loop: the
    %% request head is parsed from a buffer with erlang:decode_packet/3 (the VM's own HTTP
    %% parser, the one {packet, http} runs in the driver) and the body taken from the same
    %% buffer, so a request costs one or two reads and one write, not a socket option change
    %% and a message per header line (README.md "HTTP: CPU per request"). Bounded header
    %% section, a 400 with the contract's body for a malformed request line or header, a
    %% prompt close when the peer half-closes, persistence per RFC 9112 (respond/5).
    mochiweb_socket_server:start_link([{name, ?MODULE}, {ip, Host}, {port, Port},
                                       {acceptor_pool_size, N}, {nodelay, true},
                                       %% the most one read hands over (mochiweb's: 8 KiB)
                                       {buffer, 65536},
                                       {loop, {?MODULE, loop}}]).

%% @doc One connection (mochiweb_socket_server's loop): requests until it closes.
-spec loop(gen_tcp:socket(), term()) -> no_return().
loop(Socket, _Opts) ->
    idle(Socket, <<>>).

%% Between requests: Buffer holds bytes already read past the previous request (pipelining).
%% A request's first byte may take ?IDLE_TIMEOUT_MS; from it, the request line and then the
%% header fields have ?HEADER_TIMEOUT_MS each.
idle(Socket, <<>>) ->
    case gen_tcp:recv(Socket, 0, ?IDLE_TIMEOUT_MS) of
        {ok, Data} -> request_line(Socket, Data, deadline());
        {error, _} -> close_socket(Socket)
    end;
idle(Socket, Buffer) ->
    request_line(Socket, Buffer, deadline()).

deadline() ->
    erlang:monotonic_time(millisecond) + ?HEADER_TIMEOUT_MS.

%% More bytes of the request head, by Deadline; a peer that closes or is too slow is closed.
more(Socket, Buffer, Deadline) ->
    case gen_tcp:recv(Socket, 0, max(0, Deadline - erlang:monotonic_time(millisecond))) of
        {ok, Data} -> <<Buffer/binary, Data/binary>>;
        {error, _} -> close_socket(Socket)
    end.

request_line(Socket, Buffer, Deadline) ->
    case erlang:decode_packet(http_bin, Buffer, []) of
        {more, _} when byte_size(Buffer) > ?MAX_REQUEST_LINE ->
            raw_bad_request(Socket, <<"request line too long">>);
        {more, _} ->
            %% a request line begun and not finished in time (slowloris) is closed
            request_line(Socket, more(Socket, Buffer, Deadline), Deadline);
        {ok, {http_request, Method, Uri, Version}, Rest} ->
            headers(Socket, Rest, {Method, Uri, Version}, [], 0, deadline());
        {ok, {http_error, Blank}, Rest} when Blank =:= <<"\r\n">>; Blank =:= <<"\n">> ->
            %% empty lines before a request line are ignored (RFC 9112 section 2.2)
            request_line(Socket, Rest, Deadline);
        {ok, _, _} ->
            %% http_error, or a status line (http_response) where a request line belongs
            raw_bad_request(Socket, <<"malformed request line">>);
        {error, _} ->
            raw_bad_request(Socket, <<"malformed request line">>)
    end.

headers(Socket, _Buffer, _Request, _Headers, ?MAX_HEADERS, _Deadline) ->
    raw_bad_request(Socket, <<"too many header fields">>);
headers(Socket, Buffer, Request, Headers, Count, Deadline) ->
    case erlang:decode_packet(httph_bin, Buffer, []) of
        {ok, {http_header, _, Name, _, Value}, Rest} ->
            headers(Socket, Rest, Request, [{Name, Value} | Headers], Count + 1, Deadline);
        {ok, http_eoh, Rest} ->
            serve(Socket, Request, Headers, Rest);
        {more, _} when byte_size(Buffer) > ?MAX_REQUEST_LINE ->
            raw_bad_request(Socket, <<"header field too long">>);
        {more, _} ->
            headers(Socket, more(Socket, Buffer, Deadline), Request, Headers, Count, Deadline);
        {ok, _, _} ->
            raw_bad_request(Socket, <<"malformed header field">>);
        {error, _} ->
            raw_bad_request(Socket, <<"malformed header field">>)
    end.

%% The request as handle/1 sees it. `rest': bytes read past the head (the body's start, or
%% a pipelined request); `read': whether the whole body has been read.
serve(Socket, {Method, Uri, Version}, Headers, Rest) ->
    Req = #{socket => Socket, method => Method, path => path(uri(Uri)), version => Version,
            headers => fields(Headers, #{}), rest => Rest, read => false},
    after_response(handle(Req)).

%% The fields this server looks at, by lowercase name; repeated fields joined with ", " (as
%% mochiweb_headers did, so that two Content-Lengths are malformed). decode_packet gives
%% the names it knows as atoms (any case on the wire), others as binaries.
fields([], Acc) ->
    Acc;
fields([{Name, Value} | Rest], Acc) ->
    case field(Name) of
        other -> fields(Rest, Acc);
        Key ->
            %% the list is in reverse order: a later field is prepended
            fields(Rest, case Acc of
                             #{Key := Later} -> Acc#{Key := <<Value/binary, ", ", Later/binary>>};
                             _ -> Acc#{Key => Value}
                         end)
    end.

field('Content-Length') -> content_length;
field('Transfer-Encoding') -> transfer_encoding;
field('Connection') -> connection;
field(Name) when is_binary(Name) ->
    case string:lowercase(Name) of
        <<"expect">> -> expect;
        <<"content-length">> -> content_length;
        <<"transfer-encoding">> -> transfer_encoding;
        <<"connection">> -> connection;
        _ -> other
    end;
field(_) -> other.

header(Key, #{headers := Headers}) ->
    maps:get(Key, Headers, undefined).

%% The request target as a path (what mochiweb:new_request/1 made of it).
uri({abs_path, Path}) -> Path;
uri({absoluteURI, _Scheme, _Host, _Port, Path}) -> Path;
uri('*') -> <<"*">>;
uri({scheme, Host, Port}) -> <<Host/binary, ":", Port/binary>>;
uri(Other) when is_binary(Other) -> Other.

%% The path without query and fragment (mochiweb_util:urlsplit_path/1).
path(Target) ->
    hd(binary:split(Target, [<<"?">>, <<"#">>])).

after_response(#{socket := Socket} = Req) ->
    case persists(Req) of
        false ->
            close_socket(Socket);
        true ->
            %% A big body is garbage now: give it back before waiting for the next request.
            byte_size(maps:get(rest, Req)) + maps:get(body_size, Req, 0) > ?GC_AFTER_BYTES
                andalso erlang:garbage_collect(),
            idle(Socket, maps:get(rest, Req))
    end.

close_socket(Socket) ->
    gen_tcp:close(Socket),
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
persists(#{version := Version, read := Read} = Req) ->
    keep_alive(Version, connection(header(connection, Req)))
        andalso (Read
                 orelse (header(transfer_encoding, Req) =:= undefined
                         andalso content_length(Req) =:= {ok, 0})).

%% The Connection header as keep_alive/2 takes it; the values clients send most, as they
%% send them, without the string functions.
connection(<<"keep-alive">>) -> "keep-alive";
connection(<<"Keep-Alive">>) -> "keep-alive";
connection(<<"close">>) -> "close";
connection(Value) -> as_list(Value).

as_list(undefined) -> undefined;
as_list(Value) -> binary_to_list(Value).

%% The whole response in one write, its Connection header saying what happens next: `close'
%% when the connection ends after it, `keep-alive' when an HTTP/1.0 connection persists (the
%% client would otherwise wait for the close). `close' mode ends it whatever the request asked.
%% Returns the request.
respond(#{socket := Socket, method := Method, version := Version} = Req, Code, Headers, Body,
        Mode) ->
    Connection = case Mode =:= close orelse not persists(Req) of
                     true -> [<<"Connection: close\r\n">>];
                     false when Version =:= {1, 0} -> [<<"Connection: keep-alive\r\n">>];
                     false -> []
                 end,
    Head = [<<"HTTP/1.1 ">>, integer_to_binary(Code), $\s, reason(Code), <<"\r\n">>,
            [[K, <<": ">>, V, <<"\r\n">>] || {K, V} <- Headers],
            <<"Content-Length: ">>, integer_to_binary(iolist_size(Body)), <<"\r\n">>,
            Connection, <<"\r\n">>],
    Data = case Method of
               'HEAD' -> Head;
               _ -> [Head, Body]
           end,
    case gen_tcp:send(Socket, Data) of
        ok -> Req;
        %% the client went away
        _ -> close_socket(Socket)
    end.

reason(200) -> <<"OK">>;
reason(400) -> <<"Bad Request">>;
reason(404) -> <<"Not Found">>;
reason(405) -> <<"Method Not Allowed">>;
reason(413) -> <<"Content Too Large">>;
reason(500) -> <<"Internal Server Error">>.

%% A 400 written directly (there is no request yet), then close.
raw_bad_request(Socket, Message) ->
    Body = bench_ops:error_body(bad_request, Message),
    _ = gen_tcp:send(Socket, [<<"HTTP/1.1 400 Bad Request\r\n"
                                "Content-Type: application/json\r\n"
                                "Connection: close\r\n"
                                "Content-Length: ">>,
                              integer_to_binary(iolist_size(Body)),
                              <<"\r\n\r\n">>, Body]),
    close_socket(Socket).

%% @doc One request: answers it and returns it as it is after the answer (body read or not,
%% the bytes read past it), or ends the connection.
-spec handle(map()) -> map().
handle(#{method := Method, path := Path} = Req) ->
    try route(Method, Path, Req)
    catch
        %% the connection was ended (the client went away, or close/1)
        exit:normal ->
            exit(normal);
        %% A chunked body over the limit, found while reading it.
        exit:{body_too_large, _} ->
            reply_error(Req, too_large, <<"body is over the size limit">>, close),
            close(Req);
        Class:Reason:Stack ->
            logger:error("http ~0p ~s failed: ~0p:~0p ~0p", [Method, printable(Path), Class,
                                                             Reason, Stack]),
            reply_error(Req, internal, <<"internal error">>, close),
            close(Req)
    end.

route('POST', <<"/echo">>, Req) -> op(<<"echo">>, Req);
route('POST', <<"/diff">>, Req) -> op(<<"diff">>, Req);
route('GET', <<"/health">>, Req) ->
    respond(Req, 200, [?JSON], bench_ops:health_body(), keep);
route(_Method, <<"/echo">>, Req) -> not_allowed(<<"POST">>, Req);
route(_Method, <<"/diff">>, Req) -> not_allowed(<<"POST">>, Req);
route(_Method, <<"/health">>, Req) -> not_allowed(<<"GET">>, Req);
route(_Method, Path, Req) ->
    reply_error(Req, unknown_op, iolist_to_binary(["no such path: ", printable(Path)]), keep).

op(Op, Req) ->
    Max = maps:get(max_body_bytes, bench_ops:settings()),
    case transfer_encoding(as_list(header(transfer_encoding, Req))) of
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

op_chunked(Op, #{socket := Socket, rest := Rest} = Req, Max) ->
    %% The chunked body is read from the socket in line mode: what was read past the head
    %% goes back to the socket first.
    ok = gen_tcp:unrecv(Socket, Rest),
    continue(Req),
    case read_chunked(Socket, Max) of
        {ok, Body} ->
            run(Op, Body, Req#{read := true, rest := <<>>, body_size => byte_size(Body)});
        {error, too_large} ->
            reply_error(Req, too_large, <<"body is over the size limit">>, close),
            close(Req);
        {error, bad} ->
            reply_error(Req, bad_request, <<"malformed chunked body">>, close),
            close(Req);
        {error, closed} ->
            close(Req)
    end.

%% `Expect: 100-continue': the client waits for this before it sends the body.
continue(#{socket := Socket, version := Version} = Req) when Version >= {1, 1} ->
    case header(expect, Req) of
        undefined -> ok;
        V ->
            case string:lowercase(string:trim(V)) of
                <<"100-continue">> ->
                    _ = gen_tcp:send(Socket, <<"HTTP/1.1 100 Continue\r\n\r\n">>),
                    ok;
                _ -> ok
            end
    end;
continue(_Req) ->
    ok.

%% Reads exactly the chunked body, nothing past it (a pipelined request may follow): lines
%% in `{packet, line}' mode (at most ?MAX_CHUNK_LINE bytes), chunk data by exact length.
read_chunked(Socket, Max) ->
    Result = read_chunks(Socket, Max, 0, []),
    _ = inet:setopts(Socket, [{packet, raw}]),
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
                    ok = inet:setopts(Socket, [{packet, raw}]),
                    case gen_tcp:recv(Socket, Size + 2, ?BODY_TIMEOUT_MS) of
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
    ok = inet:setopts(Socket, [{packet, line}, {packet_size, ?MAX_CHUNK_LINE}]),
    case gen_tcp:recv(Socket, 0, ?BODY_TIMEOUT_MS) of
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
            reply_error(Req, too_large, iolist_to_binary(io_lib:format(
                    "Content-Length ~b is over the limit of ~b bytes", [Length, Max])), close),
            Length =< ?DRAIN_MAX andalso drain(Req, Length),
            close(Req);
        {ok, Length} ->
            case body(Req, Length) of
                {ok, Body, Rest} ->
                    run(Op, Body, Req#{read := true, rest := Rest, body_size => Length});
                %% The client sent less than its Content-Length and stopped (EOF, reset or
                %% timeout): nothing to answer, the connection is closed.
                closed ->
                    close(Req)
            end;
        error ->
            reply_error(Req, bad_request, <<"malformed Content-Length">>, close),
            close(Req)
    end.

%% Exactly Length bytes of body: from what was read with the head, then from the socket
%% (one read for the rest of a body up to 1 MiB, which the driver allocates at its size).
body(#{rest := Rest}, Length) when byte_size(Rest) >= Length ->
    <<Body:Length/binary, After/binary>> = Rest,
    {ok, Body, After};
body(#{socket := Socket, rest := Rest} = Req, Length) ->
    continue(Req),
    case recv_exactly(Socket, Length - byte_size(Rest), [Rest]) of
        {ok, Parts} -> {ok, iolist_to_binary(Parts), <<>>};
        closed -> closed
    end.

recv_exactly(_Socket, 0, Acc) ->
    {ok, lists:reverse(Acc)};
recv_exactly(Socket, Left, Acc) ->
    N = min(Left, ?BODY_READ),
    case gen_tcp:recv(Socket, N, ?BODY_TIMEOUT_MS) of
        {ok, Data} -> recv_exactly(Socket, Left - N, [Data | Acc]);
        {error, _} -> closed
    end.

%% Reads and drops Length bytes of body (what came with the head first), for at most
%% ?DRAIN_TIMEOUT_MS per read.
drain(#{rest := Rest, socket := Socket}, Length) ->
    drain_socket(Socket, Length - min(Length, byte_size(Rest))).

drain_socket(_Socket, 0) ->
    true;
drain_socket(Socket, Left) ->
    Chunk = min(Left, 1 bsl 20),
    case gen_tcp:recv(Socket, Chunk, ?DRAIN_TIMEOUT_MS) of
        {ok, _} -> drain_socket(Socket, Left - Chunk);
        %% the client stopped sending or went away: done either way
        {error, _} -> true
    end.

content_length(Req) ->
    case header(content_length, Req) of
        undefined -> {ok, 0};
        Value ->
            %% digits only (what clients send) at once; else trimmed, as mochiweb read it
            try binary_to_integer(Value) of
                N when N >= 0 -> {ok, N};
                _ -> error
            catch error:badarg -> trimmed_length(Value)
            end
    end.

trimmed_length(Value) ->
    try list_to_integer(string:trim(binary_to_list(Value))) of
        N when N >= 0 -> {ok, N};
        _ -> error
    catch error:badarg -> error
    end.

not_allowed(Allow, Req) ->
    Body = bench_ops:error_body(bad_request, iolist_to_binary(["method not allowed; use ",
                                                               Allow])),
    respond(Req, 405, [?JSON, {<<"Allow">>, Allow}], Body, keep).

reply_error(Req, Code, Message, Mode) ->
    respond(Req, status(Code), [?JSON], bench_ops:error_body(Code, Message), Mode).

%% Ends the connection after a response sent with `Connection: close'.
close(#{socket := Socket}) ->
    close_socket(Socket).

status(bad_request) -> 400;
status(unknown_op) -> 404;
status(too_large) -> 413;
status(internal) -> 500.

printable(Path) ->
    Short = binary:part(Path, 0, min(byte_size(Path), 64)),
    << <<(if C >= 32, C < 127 -> C; true -> $? end)>> || <<C>> <= Short >>.
