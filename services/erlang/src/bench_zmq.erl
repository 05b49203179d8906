%% @doc The zmq transport: a TCP listener speaking ZMTP 3.x (bench_zmtp) as a ROUTER
%% socket that REQ and DEALER peers can use. One process per connection, not linked to
%% the acceptors or the listener: a crash while serving one peer closes that peer only.
-module(bench_zmq).

-export([start_link/1, connection/1]).

-define(PEER_TYPES, [<<"REQ">>, <<"DEALER">>]).

-type opts() :: #{host := inet:ip_address(), port := inet:port_number(),
                  acceptors := pos_integer()}.

%% @doc Starts the listener and its acceptors (bench_listener), each peer served by
%% connection/1.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    bench_listener:start_link(Opts#{name => ?MODULE, module => ?MODULE}).

%% @doc One peer: greeting, NULL handshake, then request/reply until it closes.
-spec connection(gen_tcp:socket()) -> ok.
connection(Sock) ->
    receive {go, Sock} -> ok end,
    %% libzmq's order: the signature first, the rest of the greeting once the peer has sent
    %% something. A JeroMQ 0.6.0 client that got all 64 bytes at once sometimes stalled before
    %% sending its own greeting (about 1 connection in 40; tests/peers/test_zmq_peers.py).
    <<Signature:10/binary, Rest/binary>> = bench_zmtp:greeting(#{as_server => true}),
    case gen_tcp:send(Sock, Signature) =:= ok andalso gen_tcp:recv(Sock, 0) of
        {ok, Data} ->
            case gen_tcp:send(Sock, Rest) of
                ok -> received(Sock, Data, bench_zmtp:new(), greeting);
                {error, _} -> gen_tcp:close(Sock)
            end;
        _ ->
            gen_tcp:close(Sock)
    end.

serve(Sock, Dec, Phase) ->
    case gen_tcp:recv(Sock, 0) of
        {ok, Data} ->
            received(Sock, Data, Dec, Phase);
        {error, _Closed} ->
            gen_tcp:close(Sock)
    end.

received(Sock, Data, Dec, Phase) ->
    case bench_zmtp:decode(Data, Dec) of
        {ok, Events, Dec1} ->
            case handle_events(Events, Phase, []) of
                {ok, Phase1, Out} ->
                    case send(Sock, Out) of
                        ok -> serve(Sock, Dec1, Phase1);
                        {error, _} -> gen_tcp:close(Sock)
                    end;
                {close, Why, Out} ->
                    logger:notice("zmq peer ~s closed: ~0p", [peer(Sock), Why]),
                    _ = send(Sock, Out),
                    gen_tcp:close(Sock)
            end;
        {error, Reason} ->
            logger:notice("zmq peer ~s closed: ~0p", [peer(Sock), Reason]),
            gen_tcp:close(Sock)
    end.

send(_Sock, []) -> ok;
send(Sock, Out) -> gen_tcp:send(Sock, lists:reverse(Out)).

%% Phases: greeting (waiting for the peer's greeting), handshake (waiting for READY),
%% ready (messages).
handle_events([], Phase, Out) ->
    {ok, Phase, Out};
handle_events([{greeting, _Info} | Rest], greeting, Out) ->
    Ready = bench_zmtp:ready([{<<"Socket-Type">>, <<"ROUTER">>}]),
    handle_events(Rest, handshake, [Ready | Out]);
handle_events([{command, <<"READY">>, Data} | Rest], handshake, Out) ->
    case bench_zmtp:decode_properties(Data) of
        {ok, Props} ->
            case socket_type(Props) of
                {ok, _Type} -> handle_events(Rest, ready, Out);
                {error, Type} -> {close, {unsupported_socket_type, Type}, Out}
            end;
        {error, Reason} ->
            {close, Reason, Out}
    end;
handle_events([{command, <<"PING">>, Data} | Rest], ready, Out) ->
    handle_events(Rest, ready, [bench_zmtp:pong(Data) | Out]);
handle_events([{command, <<"ERROR">>, Data} | _], _Phase, Out) ->
    {close, {peer_error, Data}, Out};
handle_events([{command, _Name, _Data} | Rest], ready, Out) ->
    %% Other commands (PONG, SUBSCRIBE, ...) mean nothing to a ROUTER: ignored.
    handle_events(Rest, ready, Out);
handle_events([{message, Frames} | Rest], ready, Out) ->
    handle_events(Rest, ready, [bench_zmtp:encode_message(reply(Frames)) | Out]);
handle_events([Event | _], Phase, Out) ->
    {close, {unexpected, element(1, Event), Phase}, Out}.

socket_type(Props) ->
    Type = case [V || {K, V} <- Props, string:casefold(K) =:= <<"socket-type">>] of
               [T | _] -> T;
               [] -> <<>>
           end,
    case lists:member(Type, ?PEER_TYPES) of
        true -> {ok, Type};
        false -> {error, Type}
    end.

%% A request is [<<>>, Op, Body]; a reply is [<<>>, Status, Body]. Any other shape is
%% bad_request, still answered with the empty delimiter.
reply([<<>>, Op, Body]) ->
    case bench_ops:run(Op, Body) of
        {ok, Reply} ->
            [<<>>, <<"ok">>, Reply];
        {error, Code, Message} ->
            [<<>>, <<"error">>, bench_ops:error_body(Code, Message)]
    end;
reply(Frames) ->
    Message = iolist_to_binary(
                io_lib:format("a request is three frames [\"\", op, body]; got ~b",
                              [length(Frames)])),
    [<<>>, <<"error">>, bench_ops:error_body(bad_request, Message)].

peer(Sock) ->
    case inet:peername(Sock) of
        {ok, {Ip, Port}} -> [inet:ntoa(Ip), $:, integer_to_list(Port)];
        {error, _} -> "?"
    end.
