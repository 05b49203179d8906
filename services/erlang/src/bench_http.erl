%% @doc The http transport on mochiweb (chosen by measurement, see README.md): HTTP/1.1
%% with keep-alive, `POST /echo', `POST /diff', `GET /health'. mochiweb serves each
%% connection in its own process, under a socket server that traps exits: a crash while
%% serving one connection never takes the listener down.
-module(bench_http).

-export([start_link/1, handle/1]).

-type opts() :: #{host := inet:ip_address(), port := inet:port_number(),
                  acceptors := pos_integer()}.

-define(JSON, {"Content-Type", "application/json"}).
-define(DRAIN_MAX, 64 * 1024 * 1024).
-define(DRAIN_TIMEOUT_MS, 2000).
-define(OCTETS, {"Content-Type", "application/octet-stream"}).

%% @doc Starts the mochiweb listener.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(#{host := Host, port := Port, acceptors := N}) ->
    mochiweb_http:start_link([{name, ?MODULE}, {ip, Host}, {port, Port},
                              {acceptor_pool_size, N}, {nodelay, true},
                              {loop, fun ?MODULE:handle/1}]).

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
    mochiweb_request:respond({200, [?JSON], bench_ops:health_body()}, Req);
route(_Method, "/echo", Req) -> not_allowed("POST", Req);
route(_Method, "/diff", Req) -> not_allowed("POST", Req);
route(_Method, "/health", Req) -> not_allowed("GET", Req);
route(_Method, Path, Req) ->
    reply_error(Req, unknown_op, iolist_to_binary(["no such path: ", printable(Path)]), keep).

op(Op, Req) ->
    Max = maps:get(max_body_bytes, bench_ops:settings()),
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
            Body = case mochiweb_request:recv_body(Max, Req) of
                       undefined -> <<>>;
                       B -> B
                   end,
            case bench_ops:run(Op, Body) of
                {ok, Reply} when Op =:= <<"echo">> ->
                    mochiweb_request:respond({200, [?OCTETS], Reply}, Req);
                {ok, Reply} ->
                    mochiweb_request:respond({200, [?JSON], Reply}, Req);
                {error, Code, Message} ->
                    reply_error(Req, Code, Message, keep)
            end;
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
    mochiweb_request:respond({405, [?JSON, {"Allow", Allow}], Body}, Req).

reply_error(Req, Code, Message, keep) ->
    mochiweb_request:respond({status(Code), [?JSON], bench_ops:error_body(Code, Message)}, Req);
reply_error(Req, Code, Message, close) ->
    mochiweb_request:respond({status(Code), [?JSON, {"Connection", "close"}],
                              bench_ops:error_body(Code, Message)}, Req).

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
