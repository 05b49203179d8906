%% The caller's gRPC client against a scripted HTTP/2 peer on a real socket (the server
%% side of bench_h2_codec): what RFC 9113 and gRPC ask of a client that the real services
%% (tests/test_callers.py and the cell runs in README.md) do not make happen on demand —
%% PINGs, small windows, WINDOW_UPDATE for what it reads, GOAWAY, error statuses.
-module(bench_caller_grpc_tests).
-include_lib("eunit/include/eunit.hrl").

-define(G, bench_caller_grpc).
-define(H2, bench_h2_codec).

%% -- the scripted peer ---------------------------------------------------------------------

%% Starts a peer that accepts one connection and runs Script(Peer) on it; returns the
%% client's connection.
start(Script) -> start(Script, <<"hello">>).

start(Script, Body) ->
    receive {peer_done, _} -> ok after 0 -> ok end,
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    Self = self(),
    spawn_link(fun() ->
                       {ok, S} = gen_tcp:accept(L, 5000),
                       Result = Script(#{sock => S, dec => ?H2:new(), events => []}),
                       Self ! {peer_done, Result},
                       receive stop -> ok after 5000 -> ok end
               end),
    Req = ?G:new(<<"echo">>, Body, #{host => <<"127.0.0.1">>, port => Port, timeout_ms => 2000}),
    {ok, C} = ?G:connect(Req, {"127.0.0.1", Port, 2000}),
    C.

peer_result() ->
    receive {peer_done, R} -> R after 5000 -> peer_timeout end.

%% Reads until Want(Event) holds for an event; returns {Event, Peer}, and every event so
%% far in `events'.
until(Want, #{sock := S, dec := D, events := Seen} = P) ->
    case [E || E <- Seen, Want(E)] of
        [E | _] -> {E, P};
        [] ->
            {ok, Data} = gen_tcp:recv(S, 0, 3000),
            {ok, Events, D1} = ?H2:decode(Data, D),
            until(Want, P#{dec := D1, events := Seen ++ Events})
    end.

%% The request's headers and its whole message (DATA up to END_STREAM) of stream Sid.
request(Sid, P) ->
    {{headers, Sid, false, Block, _}, P1} = until(fun({headers, I, _, _, _}) -> I =:= Sid;
                                                     (_) -> false end, P),
    {{data, Sid, true, _, _}, P2} = until(fun({data, I, true, _, _}) -> I =:= Sid;
                                             (_) -> false end, P1),
    Data = iolist_to_binary([B || {data, I, _, B, _} <- maps:get(events, P2), I =:= Sid]),
    {ok, Fields, _} = bench_hpack_codec:decode(Block, 65536, bench_hpack_codec:new_decoder(4096)),
    {Fields, Data, P2}.

send(#{sock := S}, Frames) -> ok = gen_tcp:send(S, Frames).

hdrs(Sid, Fields, End) -> ?H2:headers(Sid, bench_hpack_codec:encode(Fields), End, 16384).

%% A whole unary response: headers, the message, trailers.
response(Sid, Msg, Status) ->
    [hdrs(Sid, [{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>}], false),
     [?H2:data(Sid, Piece, false)
      || Piece <- chunks(iolist_to_binary(bench_grpc_codec:encode_message(Msg)), 16384)],
     hdrs(Sid, [{<<"grpc-status">>, Status}], true)].

echo(Sid, P) ->
    {_, Data, P1} = request(Sid, P),
    <<0, Len:32, Msg:Len/binary>> = Data,
    send(P1, response(Sid, Msg, <<"0">>)),
    P1.

deadline() -> erlang:monotonic_time(millisecond) + 3000.

%% -- tests ---------------------------------------------------------------------------------

unary_calls_test() ->
    C = start(fun(P) ->
                      send(P, ?H2:settings([])),
                      {Fields, Data, P1} = request(1, P),
                      <<0, Len:32, Msg:Len/binary>> = Data,
                      send(P1, response(1, Msg, <<"0">>)),
                      P2 = echo(3, P1),
                      {Fields, [E || E <- maps:get(events, P2), E =:= settings_ack]}
              end),
    {R1, C1} = ?G:call(C, deadline()),
    {R2, C2} = ?G:call(C1, deadline()),
    ?assertEqual({ok, ok, <<"hello">>}, R1),
    ?assertEqual({ok, ok, <<"hello">>}, R2),
    {Fields, Acks} = peer_result(),
    ?assertEqual(<<"POST">>, proplists:get_value(<<":method">>, Fields)),
    ?assertEqual(<<"/bench.v1.Bench/Echo">>, proplists:get_value(<<":path">>, Fields)),
    ?assertEqual(<<"trailers">>, proplists:get_value(<<"te">>, Fields)),
    ?assertEqual(<<"application/grpc">>, proplists:get_value(<<"content-type">>, Fields)),
    ?assertEqual(<<"2000m">>, proplists:get_value(<<"grpc-timeout">>, Fields)),
    ?assertEqual([settings_ack], Acks),
    ?G:close(C2).

ping_is_acknowledged_test() ->
    C = start(fun(P) ->
                      send(P, [?H2:settings([]), ?H2:frame(6, 0, 0, <<"12345678">>)]),
                      {Ack, P1} = until(fun({ping_ack, _}) -> true; (_) -> false end, P),
                      echo(1, P1),
                      Ack
              end),
    ?assertMatch({{ok, ok, <<"hello">>}, _}, ?G:call(C, deadline())),
    ?assertEqual({ping_ack, <<"12345678">>}, peer_result()).

%% A stream window of 10 bytes (SETTINGS read during the first call, which went out under
%% the default window as RFC 9113 6.5.3 allows): the second call sends 10 bytes of DATA and
%% waits for WINDOW_UPDATE before it sends the rest (97 bytes: 100 + Blob tag and length +
%% the 5-byte gRPC prefix - 10).
small_window_is_respected_test() ->
    Body = binary:copy(<<"x">>, 100),
    C = start(fun(P) ->
                      send(P, ?H2:settings([{initial_window_size, 10}])),
                      P0 = echo(1, P),
                      {_, P1} = until(fun({data, 3, _, _, _}) -> true; (_) -> false end, P0),
                      {ok, Early, D} = case gen_tcp:recv(maps:get(sock, P1), 0, 200) of
                                           {error, timeout} -> {ok, [], maps:get(dec, P1)};
                                           {ok, Bin} -> ?H2:decode(Bin, maps:get(dec, P1))
                                       end,
                      P2 = P1#{dec := D, events := maps:get(events, P1) ++ Early},
                      Sent = [byte_size(B) || {data, 3, _, B, _} <- maps:get(events, P2)],
                      send(P2, ?H2:window_update(3, 97)),
                      echo(3, P2),
                      Sent
              end, Body),
    {R1, C1} = ?G:call(C, deadline()),
    ?assertEqual({ok, ok, Body}, R1),
    ?assertEqual({ok, ok, Body}, element(1, ?G:call(C1, deadline()))),
    ?assertEqual([10], peer_result()).

%% A connection WINDOW_UPDATE that comes in the same segment as the trailers is kept: the
%% second 40 004-byte message needs it (65 535 - 40 004 left otherwise).
window_update_after_trailers_is_kept_test() ->
    Body = binary:copy(<<"y">>, 39995),
    C = start(fun(P) ->
                      send(P, ?H2:settings([])),
                      {_, Data, P1} = request(1, P),
                      <<0, Len:32, Msg:Len/binary>> = Data,
                      send(P1, [response(1, Msg, <<"0">>),
                                ?H2:window_update(0, byte_size(Data))]),
                      {_, Data3, P2} = request(3, P1#{events := []}),
                      <<0, Len3:32, Msg3:Len3/binary>> = Data3,
                      send(P2, response(3, Msg3, <<"0">>)),
                      byte_size(Data3)
              end, Body),
    {R1, C1} = ?G:call(C, deadline()),
    {R2, _} = ?G:call(C1, deadline()),
    ?assertEqual({ok, ok, Body}, R1),
    ?assertEqual({ok, ok, Body}, R2),
    ?assertEqual(40004, peer_result()).

%% 600 KiB of reply DATA on a 1 MiB stream window: the client gives back what it read
%% (WINDOW_UPDATE on the stream once half the window is read).
read_data_is_given_back_test() ->
    Body = binary:copy(<<"z">>, 600 * 1024),
    C = start(fun(P) ->
                      send(P, [?H2:settings([{initial_window_size, 1 bsl 20}]),
                               ?H2:window_update(0, 1 bsl 20)]),
                      {_, Data, P1} = request(1, P),
                      <<0, Len:32, Msg:Len/binary>> = Data,
                      Framed = iolist_to_binary(bench_grpc_codec:encode_message(Msg)),
                      Frames = [?H2:data(1, Piece, false) || Piece <- chunks(Framed, 16384)],
                      send(P1, [hdrs(1, [{<<":status">>, <<"200">>},
                                         {<<"content-type">>, <<"application/grpc">>}], false),
                                Frames, hdrs(1, [{<<"grpc-status">>, <<"0">>}], true)]),
                      {{window_update, 1, Inc}, _} =
                          until(fun({window_update, 1, _}) -> true; (_) -> false end, P1),
                      Inc
              end, Body),
    ?assertEqual({ok, ok, Body}, element(1, ?G:call(C, deadline()))),
    ?assert(peer_result() >= 512 * 1024).

chunks(Bin, N) when byte_size(Bin) =< N -> [Bin];
chunks(Bin, N) -> <<A:N/binary, Rest/binary>> = Bin, [A | chunks(Rest, N)].

%% The answer to each kind of end of a call.
answer(Frames) ->
    C = start(fun(P) ->
                      send(P, ?H2:settings([])),
                      {_, _, P1} = request(1, P),
                      send(P1, Frames(1)),
                      ok
              end),
    {Reply, C1} = ?G:call(C, deadline()),
    ok = peer_result(),
    {Reply, C1 =:= closed}.

ok_headers() -> [{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>}].

statuses_test_() ->
    [%% a known error status is a reply (the caller counts it wrong), its message decoded
     ?_assertEqual({{ok, error, <<"grpc-status 3: bad 100%">>}, false},
                   answer(fun(S) -> hdrs(S, ok_headers() ++ [{<<"grpc-status">>, <<"3">>},
                                                             {<<"grpc-message">>, <<"bad 100%25">>}],
                                         true) end)),
     %% UNAVAILABLE and DEADLINE_EXCEEDED: no reply, as the other callers count them
     ?_assertMatch({{error, {grpc_status, 14, _}}, false},
                   answer(fun(S) -> hdrs(S, ok_headers() ++ [{<<"grpc-status">>, <<"14">>}], true) end)),
     %% an unknown status is an error
     ?_assertMatch({{error, {unknown_grpc_status, <<"99">>}}, false},
                   answer(fun(S) -> response(S, <<>>, <<"99">>) end)),
     ?_assertMatch({{error, {unknown_grpc_status, <<"x">>}}, false},
                   answer(fun(S) -> response(S, <<>>, <<"x">>) end)),
     ?_assertMatch({{error, no_grpc_status}, false},
                   answer(fun(S) -> [hdrs(S, ok_headers(), false),
                                     hdrs(S, [{<<"x">>, <<"y">>}], true)] end)),
     ?_assertMatch({{error, {http_status, <<"503">>}}, false},
                   answer(fun(S) -> hdrs(S, [{<<":status">>, <<"503">>}], true) end)),
     %% a wrong body is a reply: the check says wrong
     ?_assertEqual({{ok, ok, <<"other">>}, false},
                   answer(fun(S) -> response(S, bench_pb_codec:encode_blob(<<"other">>), <<"0">>) end)),
     ?_assertMatch({{error, {rst_stream, 8}}, false},
                   answer(fun(S) -> ?H2:rst_stream(S, cancel) end)),
     ?_assertMatch({{error, {goaway, 0, <<"bye">>}}, true},
                   answer(fun(_) -> ?H2:goaway(0, no_error, <<"bye">>) end)),
     %% a GOAWAY covering the call: it completes, then the connection is left
     ?_assertEqual({{ok, ok, <<"ok">>}, true},
                   answer(fun(S) -> [?H2:goaway(1, no_error, <<>>),
                                     response(S, bench_pb_codec:encode_blob(<<"ok">>), <<"0">>)] end)),
     ?_assertMatch({{error, {h2, protocol_error, push_promise}}, true},
                   answer(fun(S) -> ?H2:frame(5, 4, S, <<0, 0, 0, 2>>) end))].

timeout_closes_the_connection_test() ->
    C = start(fun(P) -> send(P, ?H2:settings([])), {_, _, _} = request(1, P), ok end),
    ?assertEqual({{error, timeout}, closed}, ?G:call(C, erlang:monotonic_time(millisecond) + 200)),
    ?assertEqual(ok, peer_result()).

request_block_test() ->
    {ok, Fields, _} = bench_hpack_codec:decode(?G:request_block(<<"Diff">>, <<"h:1">>, 123456789),
                                               4096, bench_hpack_codec:new_decoder(4096)),
    ?assertEqual(<<"/bench.v1.Bench/Diff">>, proplists:get_value(<<":path">>, Fields)),
    ?assertEqual(<<"h:1">>, proplists:get_value(<<":authority">>, Fields)),
    %% grpc-timeout has at most 8 digits
    ?assertEqual(<<"123456S">>, proplists:get_value(<<"grpc-timeout">>, Fields)).
