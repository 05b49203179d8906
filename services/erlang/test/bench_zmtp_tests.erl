%% @doc The ZMTP 3.x codec, byte by byte (RFC 23/ZMTP, RFC 37 framing).
-module(bench_zmtp_tests).
-include_lib("eunit/include/eunit.hrl").

%% A peer's greeting as libzmq 4.3 sends it: version 3.1, NULL, as-server 0.
peer_greeting() ->
    <<16#FF, 0:64, 16#7F, 3, 1, "NULL", 0:128, 0, 0:248>>.

%% A decoder past the greeting.
ready_decoder() ->
    {ok, [{greeting, _}], D} = bench_zmtp:decode(peer_greeting(), bench_zmtp:new()),
    D.

%% Feeds a binary one byte at a time, collecting events.
feed_bytes(Bin, D) ->
    lists:foldl(fun(Byte, {Events, Dec}) ->
                        {ok, New, Dec1} = bench_zmtp:decode(<<Byte>>, Dec),
                        {Events ++ New, Dec1}
                end, {[], D}, binary_to_list(Bin)).

our_greeting_test() ->
    G = bench_zmtp:greeting(#{as_server => true}),
    ?assertEqual(64, byte_size(G)),
    ?assertEqual(<<16#FF, 0, 0, 0, 0, 0, 0, 0, 0, 16#7F, 3, 1>>, binary:part(G, 0, 12)),
    ?assertEqual(<<"NULL", 0:128>>, binary:part(G, 12, 20)),
    ?assertEqual(<<1, 0:248>>, binary:part(G, 32, 32)),
    ?assertEqual(<<0>>, binary:part(bench_zmtp:greeting(#{}), 32, 1)).

greeting_one_byte_at_a_time_test() ->
    G = peer_greeting(),
    %% nothing is decided before the 64th byte...
    {[], D63} = feed_bytes(binary:part(G, 0, 63), bench_zmtp:new()),
    %% ...which completes it
    {ok, [{greeting, Info}], _} = bench_zmtp:decode(binary:part(G, 63, 1), D63),
    ?assertEqual(#{version => {3, 1}, mechanism => <<"NULL">>, as_server => false}, Info).

%% libzmq sends the signature (10 bytes), then the major version, then the rest.
greeting_in_libzmq_steps_test() ->
    <<Sig:10/binary, Major:1/binary, Rest/binary>> = peer_greeting(),
    {ok, [], D1} = bench_zmtp:decode(Sig, bench_zmtp:new()),
    {ok, [], D2} = bench_zmtp:decode(Major, D1),
    ?assertMatch({ok, [{greeting, _}], _}, bench_zmtp:decode(Rest, D2)).

greeting_with_frames_in_the_same_packet_test() ->
    Bin = iolist_to_binary([peer_greeting(), bench_zmtp:ready([{<<"Socket-Type">>, <<"REQ">>}]),
                            bench_zmtp:encode_message([<<>>, <<"echo">>, <<"x">>])]),
    {ok, Events, _} = bench_zmtp:decode(Bin, bench_zmtp:new()),
    ?assertMatch([{greeting, _}, {command, <<"READY">>, _}, {message, [<<>>, <<"echo">>, <<"x">>]}],
                 Events).

version_3_0_accepted_test() ->
    <<A:10/binary, 3, _Minor, Rest/binary>> = peer_greeting(),
    ?assertMatch({ok, [{greeting, #{version := {3, 0}}}], _},
                 bench_zmtp:decode(<<A/binary, 3, 0, Rest/binary>>, bench_zmtp:new())).

bad_greeting_test_() ->
    New = bench_zmtp:new(),
    [%% an HTTP client: refused on its first byte
     ?_assertEqual({error, {bad_greeting, signature}}, bench_zmtp:decode(<<"G">>, New)),
     ?_assertEqual({error, {bad_greeting, signature}},
                   bench_zmtp:decode(<<"GET / HTTP/1.1\r\n\r\n">>, New)),
     %% ZMTP 1.0 style: byte 9 without its low bit
     ?_assertEqual({error, {bad_greeting, signature}},
                   bench_zmtp:decode(<<16#FF, 0:64, 16#7E>>, New)),
     %% ZMTP 2.0 peers (major 1)
     ?_assertEqual({error, {unsupported_version, 1}},
                   bench_zmtp:decode(<<16#FF, 0:64, 16#7F, 1>>, New)),
     ?_assertEqual({error, {bad_greeting, as_server}},
                   bench_zmtp:decode(<<16#FF, 0:64, 16#7F, 3, 1, "NULL", 0:128, 7, 0:248>>, New))].

unsupported_mechanism_test_() ->
    Greeting = fun(M) -> <<16#FF, 0:64, 16#7F, 3, 1, M/binary,
                           0:((20 - byte_size(M)) * 8), 0, 0:248>> end,
    [?_assertEqual({error, {unsupported_mechanism, <<"PLAIN">>}},
                   bench_zmtp:decode(Greeting(<<"PLAIN">>), bench_zmtp:new())),
     ?_assertEqual({error, {unsupported_mechanism, <<"CURVE">>}},
                   bench_zmtp:decode(Greeting(<<"CURVE">>), bench_zmtp:new())),
     %% decided as soon as the mechanism field is complete (32 bytes), before the filler
     ?_assertEqual({error, {unsupported_mechanism, <<"CURVE">>}},
                   bench_zmtp:decode(binary:part(Greeting(<<"CURVE">>), 0, 32),
                                     bench_zmtp:new()))].

ready_command_test() ->
    Props = [{<<"Socket-Type">>, <<"ROUTER">>}, {<<"Identity">>, <<"peer-1">>}],
    Ready = iolist_to_binary(bench_zmtp:ready(Props)),
    Data = <<11, "Socket-Type", 6:32, "ROUTER", 8, "Identity", 6:32, "peer-1">>,
    %% flags 0x04 (COMMAND), short size, name length 5, "READY"
    ?assertEqual(<<4, (1 + 5 + byte_size(Data)), 5, "READY", Data/binary>>, Ready),
    {[{command, <<"READY">>, Got}], _} = feed_bytes(Ready, ready_decoder()),
    ?assertEqual({ok, Props}, bench_zmtp:decode_properties(Got)),
    ?assertEqual(<<>>, bench_zmtp:encode_properties([])),
    ?assertEqual({ok, []}, bench_zmtp:decode_properties(<<>>)),
    ?assertEqual({error, bad_properties}, bench_zmtp:decode_properties(<<11, "Socket-Type", 6:32, "ROU">>)).

short_frame_255_test() ->
    Body = binary:copy(<<"a">>, 255),
    Frame = iolist_to_binary(bench_zmtp:encode_frame(Body, false)),
    ?assertEqual(<<0, 255, Body/binary>>, Frame),
    ?assertEqual({[{message, [Body]}], ok}, strip(feed_bytes(Frame, ready_decoder()))).

long_frame_256_test() ->
    Body = binary:copy(<<"b">>, 256),
    Frame = iolist_to_binary(bench_zmtp:encode_frame(Body, false)),
    ?assertEqual(<<2, 256:64, Body/binary>>, Frame),
    ?assertEqual({[{message, [Body]}], ok}, strip(feed_bytes(Frame, ready_decoder()))).

empty_frame_test() ->
    ?assertEqual(<<0, 0>>, iolist_to_binary(bench_zmtp:encode_frame(<<>>, false))),
    ?assertMatch({ok, [{message, [<<>>]}], _}, bench_zmtp:decode(<<0, 0>>, ready_decoder())).

%% A short size in the long form is legal: the decoder reads the 64-bit length as sent.
long_form_small_body_test() ->
    ?assertMatch({ok, [{message, [<<"hi">>]}], _},
                 bench_zmtp:decode(<<2, 2:64, "hi">>, ready_decoder())).

sixty_four_bit_length_test() ->
    D = bench_zmtp:new(#{max_frame_size => 1 bsl 40}),
    {ok, [_], D1} = bench_zmtp:decode(peer_greeting(), D),
    %% a header announcing 2^33 bytes is accepted (its body just has not arrived)...
    ?assertMatch({ok, [], _}, bench_zmtp:decode(<<2, (1 bsl 33):64, "abc">>, D1)),
    %% ...but over the decoder's maximum it is an error, decided on the header
    ?assertEqual({error, {frame_too_large, 1 bsl 63}},
                 bench_zmtp:decode(<<2, (1 bsl 63):64>>, ready_decoder())).

large_body_in_chunks_test() ->
    Body = crypto:strong_rand_bytes(1000000),
    Frame = iolist_to_binary(bench_zmtp:encode_message([<<>>, <<"echo">>, Body])),
    Chunks = chunks(Frame, 1460),
    {Events, _} = lists:foldl(fun(C, {Acc, D}) ->
                                      {ok, E, D1} = bench_zmtp:decode(C, D),
                                      {Acc ++ E, D1}
                              end, {[], ready_decoder()}, Chunks),
    ?assertEqual([{message, [<<>>, <<"echo">>, Body]}], Events).

more_flag_and_multipart_test() ->
    Msg = iolist_to_binary(bench_zmtp:encode_message([<<>>, <<"diff">>, <<"{}">>])),
    ?assertEqual(<<1, 0, 1, 4, "diff", 0, 2, "{}">>, Msg),
    {Events, _} = feed_bytes(<<Msg/binary, Msg/binary>>, ready_decoder()),
    ?assertEqual([{message, [<<>>, <<"diff">>, <<"{}">>]},
                  {message, [<<>>, <<"diff">>, <<"{}">>]}], Events),
    %% MORE on a long frame: flags 0x03
    Long = binary:copy(<<"z">>, 300),
    ?assertMatch(<<3, 300:64, _/binary>>,
                 iolist_to_binary(bench_zmtp:encode_message([Long, <<"end">>]))).

command_frames_test_() ->
    D = ready_decoder(),
    [?_assertMatch({ok, [{command, <<"PING">>, <<0, 10, "ctx">>}], _},
                   bench_zmtp:decode(<<4, 10, 4, "PING", 0, 10, "ctx">>, D)),
     ?_assertEqual(<<4, 8, 4, "PONG", "ctx">>, iolist_to_binary(bench_zmtp:pong(<<0, 10, "ctx">>))),
     %% long command frame (flags 0x06)
     ?_assertMatch({ok, [{command, <<"X">>, <<_:300/binary>>}], _},
                   bench_zmtp:decode(<<6, 302:64, 1, "X", 0:2400>>, D)),
     ?_assertEqual({error, {bad_frame, command_with_more}},
                   bench_zmtp:decode(<<5, 6, 5, "READY">>, D)),
     ?_assertEqual({error, {bad_frame, command_in_message}},
                   bench_zmtp:decode(<<1, 0, 4, 6, 5, "READY">>, D)),
     ?_assertEqual({error, {bad_frame, command_name}}, bench_zmtp:decode(<<4, 0>>, D)),
     ?_assertEqual({error, {bad_frame, reserved_flags}}, bench_zmtp:decode(<<16#80, 0>>, D))].

strip({Events, _D}) -> {Events, ok}.

chunks(Bin, N) when byte_size(Bin) =< N -> [Bin];
chunks(Bin, N) -> <<C:N/binary, Rest/binary>> = Bin, [C | chunks(Rest, N)].
