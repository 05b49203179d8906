%% bench_grpc over a real socket, with a raw HTTP/2 client: a unary call frame by frame,
%% flow control of our responses, the concurrency limit, rapid reset, the message limit,
%% the handshake timeout.
-module(bench_grpc_tests).
-include_lib("eunit/include/eunit.hrl").

-define(ECHO_PATH, <<"/bench.v1.Bench/Echo">>).

socket_test_() ->
    {setup, fun start/0, fun stop/1,
     fun(Port) ->
             [{"an Echo: HEADERS (table size 0 first), DATA, trailers grpc-status 0",
               fun() -> echo(Port) end},
              {"a response never exceeds the client's stream window",
               fun() -> flow_control(Port) end},
              {"stream 101 of 100 concurrent is refused, then calls work again",
               {timeout, 20, fun() -> concurrency(Port) end}},
              {"open-and-cancel as fast as possible: GOAWAY ENHANCE_YOUR_CALM",
               {timeout, 20, fun() -> rapid_reset(Port) end}},
              {"a message announced over the limit: RESOURCE_EXHAUSTED before its body",
               fun() -> too_large(Port) end},
              {"a message in 1-byte DATA frames is reassembled",
               fun() -> tiny_frames(Port) end},
              {"DATA on stream 0: GOAWAY PROTOCOL_ERROR, then closed",
               fun() -> data_on_stream_0(Port) end},
              {"WINDOW_UPDATE 0 on an open stream is RST_STREAM, on an idle one GOAWAY",
               fun() -> zero_window_update(Port) end},
              {"no preface: GOAWAY and closed after the handshake timeout",
               fun() -> handshake_timeout(Port) end}]
     end}.

start() ->
    bench_vectors:init_ops(false),
    application:set_env(bench, grpc_timeouts, #{handshake => 300}),
    process_flag(trap_exit, true),
    {ok, Pid} = bench_grpc:start_link(#{host => {127, 0, 0, 1}, port => 0, acceptors => 2}),
    unlink(Pid),
    bench_listener:port(bench_grpc).

stop(_Port) ->
    application:unset_env(bench, grpc_timeouts),
    gen_server:stop(bench_grpc).

%% -- a raw client -------------------------------------------------------------------------

connect(Port, Settings) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S, [bench_h2_codec:preface(), bench_h2_codec:settings(Settings)]),
    S.

frame(S, Type, Flags, Sid, Payload) ->
    ok = gen_tcp:send(S, bench_h2_codec:frame(Type, Flags, Sid, Payload)).

request_block() ->
    bench_hpack_codec:encode([{<<":method">>, <<"POST">>}, {<<":scheme">>, <<"http">>},
                              {<<":path">>, ?ECHO_PATH}, {<<"content-type">>, <<"application/grpc">>},
                              {<<"te">>, <<"trailers">>}]).

%% HEADERS (END_HEADERS) then one DATA frame with END_STREAM carrying the message.
call(S, Sid, Data) ->
    frame(S, 1, 4, Sid, request_block()),
    Msg = iolist_to_binary(bench_pb_codec:encode_blob(Data)),
    frame(S, 0, 1, Sid, [<<0, (byte_size(Msg)):32>>, Msg]).

%% Frames until Pred says stop (or the timeout): [{Type, Flags, Sid, Payload}].
recv_until(S, Pred, Timeout) ->
    recv_until(S, Pred, Timeout, <<>>, []).

recv_until(S, Pred, Timeout, Buf, Acc) ->
    case Buf of
        <<Len:24, Type, Flags, _:1, Sid:31, Payload:Len/binary, Rest/binary>> ->
            F = {Type, Flags, Sid, Payload},
            case Pred(F) of
                true -> lists:reverse([F | Acc]);
                false -> recv_until(S, Pred, Timeout, Rest, [F | Acc])
            end;
        _ ->
            case gen_tcp:recv(S, 0, Timeout) of
                {ok, Data} -> recv_until(S, Pred, Timeout, <<Buf/binary, Data/binary>>, Acc);
                {error, Why} -> {error, Why, lists:reverse(Acc)}
            end
    end.

end_of(Sid) ->
    fun({1, Flags, S, _}) -> S =:= Sid andalso Flags band 1 =:= 1;
       ({0, Flags, S, _}) -> S =:= Sid andalso Flags band 1 =:= 1;
       ({3, _, S, _}) -> S =:= Sid;
       ({7, _, _, _}) -> true;
       (_) -> false
    end.

goaway() ->
    fun({7, _, _, _}) -> true; (_) -> false end.

decode_block(Block) ->
    {ok, H, _} = bench_hpack_codec:decode(Block, 65536, bench_hpack_codec:new_decoder(4096)),
    H.

%% -- the tests ----------------------------------------------------------------------------

echo(Port) ->
    S = connect(Port, []),
    call(S, 1, <<"hello">>),
    Frames = recv_until(S, end_of(1), 5000),
    [{1, 4, 1, <<16#20, Block/binary>>}] = [F || {1, _, 1, _} = F <- Frames, element(2, F) =:= 4],
    ?assertEqual([{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>}],
                 decode_block(Block)),
    [Data] = [P || {0, _, 1, P} <- Frames],
    ?assertEqual(<<0, 7:32, 16#0a, 5, "hello">>, Data),
    {1, 5, 1, Trailers} = lists:last(Frames),
    ?assertEqual([{<<"grpc-status">>, <<"0">>}], decode_block(Trailers)),
    %% our SETTINGS came first and say what we enforce
    {4, 0, 0, Settings} = hd(Frames),
    ?assertEqual([{3, 100}, {4, 1048576}, {6, 16384}], [{I, V} || <<I:16, V:32>> <= Settings]),
    gen_tcp:close(S).

flow_control(Port) ->
    S = connect(Port, [{initial_window_size, 10}]),
    call(S, 1, binary:copy(<<"x">>, 100)),
    %% 10 bytes of DATA, then nothing until the window grows
    {error, timeout, Frames} = recv_until(S, end_of(1), 500),
    ?assertEqual(10, lists:sum([byte_size(P) || {0, _, 1, P} <- Frames])),
    frame(S, 8, 0, 1, <<50:32>>),
    {error, timeout, Frames2} = recv_until(S, end_of(1), 500),
    ?assertEqual(50, lists:sum([byte_size(P) || {0, _, 1, P} <- Frames2])),
    frame(S, 8, 0, 1, <<1000:32>>),
    Frames3 = recv_until(S, end_of(1), 5000),
    ?assertEqual(107 - 60, lists:sum([byte_size(P) || {0, _, 1, P} <- Frames3])),
    ?assertMatch({1, 5, 1, _}, lists:last(Frames3)),
    gen_tcp:close(S).

concurrency(Port) ->
    S = connect(Port, []),
    Sids = lists:seq(1, 199, 2),
    [frame(S, 1, 4, Sid, request_block()) || Sid <- Sids],      % 100 streams left open
    frame(S, 1, 4, 201, request_block()),
    Frames = recv_until(S, end_of(201), 5000),
    ?assertMatch({3, 0, 201, <<7:32>>}, lists:last(Frames)),   % REFUSED_STREAM
    [frame(S, 3, 0, Sid, <<8:32>>) || Sid <- Sids],            % CANCEL them
    call(S, 203, <<"again">>),
    ?assertMatch({1, 5, 203, _}, lists:last(recv_until(S, end_of(203), 5000))),
    gen_tcp:close(S).

rapid_reset(Port) ->
    S = connect(Port, []),
    Block = request_block(),
    Pairs = [[bench_h2_codec:frame(1, 4, Sid, Block), bench_h2_codec:frame(3, 0, Sid, <<8:32>>)]
             || Sid <- lists:seq(1, 2 * 1100, 2)],
    _ = gen_tcp:send(S, Pairs),
    Frames = recv_until(S, goaway(), 10000),
    {7, 0, 0, <<_:32, Code:32, _/binary>>} = lists:last(Frames),
    ?assertEqual(11, Code),                                     % ENHANCE_YOUR_CALM
    gen_tcp:close(S).

too_large(Port) ->
    S = connect(Port, []),
    frame(S, 1, 4, 1, request_block()),
    frame(S, 0, 0, 1, <<0, (17 * 1024 * 1024):32, "only the start">>),
    Frames = recv_until(S, fun({3, _, 1, _}) -> true; (_) -> false end, 5000),
    [Block] = [B || {1, 5, 1, B} <- Frames],
    <<16#20, Plain/binary>> = Block,
    ?assertMatch([_, _, {<<"grpc-status">>, <<"8">>}, {<<"grpc-message">>, _}], decode_block(Plain)),
    %% then RST_STREAM NO_ERROR: the client may stop sending
    ?assertMatch({3, 0, 1, <<0:32>>}, lists:last(Frames)),
    %% what it still sends on that stream (DATA, trailers) is ignored: the connection serves on
    frame(S, 0, 0, 1, <<"more of the body">>),
    frame(S, 1, 5, 1, bench_hpack_codec:encode([{<<"x-trailer">>, <<"1">>}])),
    call(S, 3, <<"next">>),
    ?assertMatch({1, 5, 3, _}, lists:last(recv_until(S, end_of(3), 5000))),
    gen_tcp:close(S).

tiny_frames(Port) ->
    S = connect(Port, []),
    frame(S, 1, 4, 1, request_block()),
    Data = list_to_binary([I rem 251 || I <- lists:seq(1, 1000)]),
    Msg = iolist_to_binary(bench_pb_codec:encode_blob(Data)),
    ok = gen_tcp:send(S, [bench_h2_codec:frame(0, 0, 1, <<B>>)
                          || <<B>> <= <<0, (byte_size(Msg)):32, Msg/binary>>]),
    frame(S, 0, 0, 1, <<>>),
    frame(S, 0, 1, 1, <<>>),
    Frames = recv_until(S, end_of(1), 5000),
    ?assertEqual([<<0, (byte_size(Msg)):32, Msg/binary>>], [P || {0, _, 1, P} <- Frames]),
    gen_tcp:close(S).

data_on_stream_0(Port) ->
    S = connect(Port, []),
    frame(S, 0, 0, 0, <<"x">>),
    Frames = recv_until(S, goaway(), 5000),
    ?assertMatch({7, 0, 0, <<0:32, 1:32, _/binary>>}, lists:last(Frames)),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 3000)),
    gen_tcp:close(S).

zero_window_update(Port) ->
    S = connect(Port, []),
    frame(S, 1, 4, 1, request_block()),
    frame(S, 8, 0, 1, <<0:32>>),
    ?assertMatch({3, 0, 1, <<1:32>>}, lists:last(recv_until(S, end_of(1), 5000))),
    frame(S, 8, 0, 5, <<0:32>>),
    ?assertMatch({7, 0, 0, <<1:32, 1:32, _/binary>>}, lists:last(recv_until(S, goaway(), 5000))),
    gen_tcp:close(S).

handshake_timeout(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    T0 = erlang:monotonic_time(millisecond),
    Frames = recv_until(S, goaway(), 5000),
    ?assertMatch({7, 0, 0, _}, lists:last(Frames)),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 3000)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 2500),
    gen_tcp:close(S).
