%% HTTP/2 framing (RFC 9113): preface, every frame type, byte by byte, and the errors the
%% framing layer must detect.
-module(bench_h2_codec_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, bench_h2_codec).

frame(Type, Flags, Sid, Payload) ->
    iolist_to_binary(?M:frame(Type, Flags, Sid, Payload)).

-define(SETTINGS0, <<0:24, 4, 0, 0:32>>).

%% A decoder past the preface and the first SETTINGS.
ready() ->
    {ok, [{settings, []}], D} = ?M:decode(<<(?M:preface())/binary, ?SETTINGS0/binary>>, ?M:new()),
    D.

events(Bin) ->
    {ok, Events, _} = ?M:decode(Bin, ready()),
    Events.

%% Feeding the bytes one at a time gives the same events as feeding them at once.
bytewise(Bin, D) ->
    lists:foldl(fun(B, {Acc, Dn}) ->
                        {ok, E, Dn1} = ?M:decode(<<B>>, Dn),
                        {Acc ++ E, Dn1}
                end, {[], D}, binary_to_list(Bin)).

preface_test() ->
    Bin = <<(?M:preface())/binary, ?SETTINGS0/binary,
            (frame(6, 0, 0, <<"12345678">>))/binary>>,
    {Events, _} = bytewise(Bin, ?M:new()),
    ?assertEqual([{settings, []}, {ping, <<"12345678">>}], Events).

bad_preface_test_() ->
    [?_assertMatch({ok, [{connection_error, protocol_error, bad_preface}], _},
                   ?M:decode(<<"GET / HTTP/1.1\r\n">>, ?M:new())),
     %% refused at the first wrong byte, not after 24
     ?_assertMatch({ok, [{connection_error, protocol_error, bad_preface}], _},
                   ?M:decode(<<"PRX">>, ?M:new())),
     ?_assertMatch({ok, [], _}, ?M:decode(<<"PRI * HTTP/2">>, ?M:new()))].

settings_first_test_() ->
    P = ?M:preface(),
    [?_assertMatch({ok, [{connection_error, protocol_error, settings_expected}], _},
                   ?M:decode(<<P/binary, (frame(6, 0, 0, <<0:64>>))/binary>>, ?M:new())),
     ?_assertMatch({ok, [{connection_error, protocol_error, settings_expected}], _},
                   ?M:decode(<<P/binary, (frame(4, 1, 0, <<>>))/binary>>, ?M:new()))].

data_test() ->
    ?assertEqual([{data, 1, true, <<"abc">>, 3}], events(frame(0, 1, 1, <<"abc">>))),
    %% padded: pad length 2, the flow-controlled length counts everything
    ?assertEqual([{data, 3, false, <<"ab">>, 5}], events(frame(0, 8, 3, <<2, "ab", 0, 0>>))),
    ?assertEqual([{connection_error, protocol_error, bad_padding}],
                 events(frame(0, 8, 1, <<3, "ab">>))),
    ?assertEqual([{connection_error, protocol_error, data_on_stream_0}],
                 events(frame(0, 0, 0, <<"x">>))).

headers_test() ->
    ?assertEqual([{headers, 1, true, <<16#82>>, none}], events(frame(1, 5, 1, <<16#82>>))),
    %% padded + priority
    ?assertEqual([{headers, 3, false, <<16#82, 16#84>>, 1}],
                 events(frame(1, 16#2c, 3, <<1, 0:1, 1:31, 15, 16#82, 16#84, 0>>))),
    ?assertEqual([{connection_error, frame_size_error, short_priority}],
                 events(frame(1, 16#24, 1, <<0, 0>>))),
    ?assertEqual([{connection_error, protocol_error, headers_on_stream_0}],
                 events(frame(1, 4, 0, <<16#82>>))).

continuation_test() ->
    Bin = <<(frame(1, 1, 1, <<16#82>>))/binary, (frame(9, 0, 1, <<16#86>>))/binary,
            (frame(9, 4, 1, <<16#84>>))/binary>>,
    ?assertEqual([{headers, 1, true, <<16#82, 16#86, 16#84>>, none}], events(Bin)),
    {Events, _} = bytewise(Bin, ready()),
    ?assertEqual([{headers, 1, true, <<16#82, 16#86, 16#84>>, none}], Events),
    %% another frame, or another stream's CONTINUATION, inside the block
    ?assertEqual([{connection_error, protocol_error, field_block_interrupted}],
                 events(<<(frame(1, 0, 1, <<16#82>>))/binary, (frame(6, 0, 0, <<0:64>>))/binary>>)),
    ?assertEqual([{connection_error, protocol_error, field_block_interrupted}],
                 events(<<(frame(1, 0, 1, <<16#82>>))/binary, (frame(9, 4, 3, <<>>))/binary>>)),
    ?assertEqual([{connection_error, protocol_error, continuation_without_headers}],
                 events(frame(9, 4, 1, <<16#82>>))).

continuation_flood_test() ->
    Flood = binary:copy(frame(9, 0, 1, <<>>), 100),
    ?assertEqual([{connection_error, enhance_your_calm, field_block_too_large}],
                 events(<<(frame(1, 0, 1, <<16#82>>))/binary, Flood/binary>>)).

frame_size_test() ->
    ?assertEqual([{connection_error, frame_size_error, frame_too_large}],
                 events(<<16385:24, 0, 0, 0:1, 1:31>>)),
    %% exactly the maximum is fine
    ?assertMatch([{data, 1, false, _, 16384}], events(frame(0, 0, 1, binary:copy(<<0>>, 16384)))).

priority_test() ->
    ?assertEqual([{priority, 3, 1}], events(frame(2, 0, 3, <<0:1, 1:31, 16>>))),
    ?assertEqual([{stream_error, 3, frame_size_error, bad_priority_length}],
                 events(frame(2, 0, 3, <<0:32>>))),
    ?assertEqual([{connection_error, protocol_error, priority_on_stream_0}],
                 events(frame(2, 0, 0, <<0:40>>))).

rst_stream_test() ->
    ?assertEqual([{rst_stream, 1, 8}], events(frame(3, 0, 1, <<8:32>>))),
    ?assertEqual([{connection_error, frame_size_error, bad_rst_stream_length}],
                 events(frame(3, 0, 1, <<8:24>>))),
    ?assertEqual([{connection_error, protocol_error, rst_stream_on_stream_0}],
                 events(frame(3, 0, 0, <<8:32>>))).

settings_test() ->
    ?assertEqual([{settings, [{3, 100}, {4, 65535}, {999, 1}]}],
                 events(frame(4, 0, 0, <<3:16, 100:32, 4:16, 65535:32, 999:16, 1:32>>))),
    ?assertEqual([settings_ack], events(frame(4, 1, 0, <<>>))),
    ?assertEqual([{connection_error, frame_size_error, settings_ack_with_payload}],
                 events(frame(4, 1, 0, <<1:48>>))),
    ?assertEqual([{connection_error, frame_size_error, bad_settings_length}],
                 events(frame(4, 0, 0, <<1:40>>))),
    ?assertEqual([{connection_error, protocol_error, settings_on_stream}],
                 events(frame(4, 0, 1, <<>>))),
    ?assertEqual([{connection_error, protocol_error, bad_enable_push}],
                 events(frame(4, 0, 0, <<2:16, 2:32>>))),
    ?assertEqual([{connection_error, flow_control_error, bad_initial_window_size}],
                 events(frame(4, 0, 0, <<4:16, 16#80000000:32>>))),
    ?assertEqual([{connection_error, protocol_error, bad_max_frame_size}],
                 events(frame(4, 0, 0, <<5:16, 16383:32>>))),
    ?assertEqual([{connection_error, protocol_error, bad_max_frame_size}],
                 events(frame(4, 0, 0, <<5:16, 16777216:32>>))).

ping_goaway_window_test() ->
    ?assertEqual([{ping_ack, <<"abcdefgh">>}], events(frame(6, 1, 0, <<"abcdefgh">>))),
    ?assertEqual([{connection_error, frame_size_error, bad_ping_length}],
                 events(frame(6, 0, 0, <<"abc">>))),
    ?assertEqual([{connection_error, protocol_error, ping_on_stream}],
                 events(frame(6, 0, 1, <<"abcdefgh">>))),
    ?assertEqual([{goaway, 7, 0, <<"bye">>}], events(frame(7, 0, 0, <<7:32, 0:32, "bye">>))),
    ?assertEqual([{window_update, 0, 100}, {window_update, 1, 16#7fffffff}],
                 events(<<(frame(8, 0, 0, <<100:32>>))/binary,
                          (frame(8, 0, 1, <<16#ffffffff:32>>))/binary>>)),
    ?assertEqual([{stream_error, 1, protocol_error, zero_window_update}],
                 events(frame(8, 0, 1, <<0:32>>))),
    ?assertEqual([{connection_error, protocol_error, zero_window_update}],
                 events(frame(8, 0, 0, <<0:32>>))),
    ?assertEqual([{connection_error, frame_size_error, bad_window_update_length}],
                 events(frame(8, 0, 0, <<0:24>>))).

unknown_and_push_promise_test() ->
    ?assertEqual([{ping, <<0:64>>}],
                 events(<<(frame(16#42, 16#ff, 1, <<"whatever">>))/binary,
                          (frame(6, 0, 0, <<0:64>>))/binary>>)),
    ?assertEqual([{push_promise, 1}], events(frame(5, 4, 1, <<0:32>>))).

failed_stays_failed_test() ->
    {ok, [{connection_error, _, _}], D} = ?M:decode(frame(0, 0, 0, <<"x">>), ready()),
    ?assertMatch({ok, [], _}, ?M:decode(frame(6, 0, 0, <<0:64>>), D)).

encoders_test() ->
    ?assertEqual(<<0:24, 4, 1, 0:32>>, iolist_to_binary(?M:settings_ack())),
    ?assertEqual(<<12:24, 4, 0, 0:32, 3:16, 100:32, 6:16, 16384:32>>,
                 iolist_to_binary(?M:settings([{max_concurrent_streams, 100},
                                               {max_header_list_size, 16384}]))),
    ?assertEqual(<<8:24, 6, 1, 0:32, "abcdefgh">>, iolist_to_binary(?M:ping_ack(<<"abcdefgh">>))),
    ?assertEqual(<<8:24, 7, 0, 0:32, 5:32, 1:32>>, iolist_to_binary(?M:goaway(5, protocol_error, <<>>))),
    ?assertEqual(<<4:24, 3, 0, 3:32, 7:32>>, iolist_to_binary(?M:rst_stream(3, refused_stream))),
    ?assertEqual(<<4:24, 8, 0, 1:32, 1000:32>>, iolist_to_binary(?M:window_update(1, 1000))),
    ?assertEqual(<<2:24, 0, 1, 1:32, "hi">>, iolist_to_binary(?M:data(1, <<"hi">>, true))),
    ?assertEqual(<<1:24, 1, 5, 1:32, 16#88>>, iolist_to_binary(?M:headers(1, <<16#88>>, true, 16384))),
    %% a block longer than the peer's frame size goes out as HEADERS + CONTINUATIONs,
    %% which our decoder reassembles
    Block = binary:copy(<<16#82>>, 40000),
    Frames = iolist_to_binary(?M:headers(5, Block, false, 16384)),
    ?assertMatch(<<16384:24, 1, 0, 5:32, _/binary>>, Frames),
    {ok, [{headers, 5, false, Block, none}], _} =
        ?M:decode(Frames, element(3, ?M:decode(<<(?M:preface())/binary, ?SETTINGS0/binary>>,
                                               ?M:new(#{max_block_size => 1 bsl 20})))).

%% The client's decoder: the server's first frame is SETTINGS, no preface.
client_decoder_test_() ->
    [?_assertEqual({ok, [{settings, [{4, 1000}]}, {ping, <<"abcdefgh">>}], ok},
                   strip(?M:decode(<<(frame(4, 0, 0, <<4:16, 1000:32>>))/binary,
                                     (frame(6, 0, 0, <<"abcdefgh">>))/binary>>,
                                   ?M:new_client(#{})))),
     ?_assertEqual({ok, [{connection_error, protocol_error, settings_expected}], ok},
                   strip(?M:decode(frame(6, 0, 0, <<"abcdefgh">>), ?M:new_client(#{})))),
     %% a server that answers with a preface is refused (the preface is no frame)
     ?_assertMatch({ok, [{connection_error, _, _}], _},
                   ?M:decode(?M:preface(), ?M:new_client(#{}))),
     %% byte by byte, the same events
     ?_assertEqual([{settings, []}, {window_update, 0, 5}],
                   element(1, bytewise(<<?SETTINGS0/binary, (frame(8, 0, 0, <<5:32>>))/binary>>,
                                       ?M:new_client(#{}))))].

strip({ok, Events, _}) -> {ok, Events, ok}.
