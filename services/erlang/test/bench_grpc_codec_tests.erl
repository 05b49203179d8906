%% gRPC over HTTP/2: request field checks (RFC 9113 8.2, 8.3), gRPC's method, content
%% type and encoding, the 5-byte message, statuses and grpc-message's encoding.
-module(bench_grpc_codec_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, bench_grpc_codec).

req(Extra) ->
    [{<<":method">>, <<"POST">>}, {<<":scheme">>, <<"http">>},
     {<<":path">>, <<"/bench.v1.Bench/Echo">>}, {<<":authority">>, <<"x">>},
     {<<"content-type">>, <<"application/grpc">>}, {<<"te">>, <<"trailers">>} | Extra].

good_request_test() ->
    {ok, Req} = ?M:check_request(req([{<<"content-length">>, <<"7">>}])),
    ?assertMatch(#{method := <<"POST">>, path := <<"/bench.v1.Bench/Echo">>,
                   content_type := <<"application/grpc">>, content_length := 7}, Req),
    ?assertEqual({ok, echo}, ?M:grpc_request(Req)).

malformed_requests_test_() ->
    M = fun(H) -> element(2, element(2, ?M:check_request(H))) end,
    [?_assertEqual(bad_field_name, M(req([{<<"X-Up">>, <<"1">>}]))),
     ?_assertEqual(bad_field_name, M(req([{<<"a b">>, <<"1">>}]))),
     ?_assertEqual(bad_field_value, M(req([{<<"x">>, <<"a\r\nb">>}]))),
     ?_assertEqual(bad_field_value, M(req([{<<"x">>, <<" a">>}]))),
     ?_assertEqual(bad_field_value, M(req([{<<"x">>, <<"a\t">>}]))),
     ?_assertEqual(bad_field_value, M(req([{<<"x">>, <<0>>}]))),
     ?_assertMatch({ok, #{path := <<"/x\t">>}},
                   ?M:check_request(lists:keyreplace(<<":path">>, 1, req([]), {<<":path">>, <<"/x\t">>}))),
     ?_assertEqual(pseudo_header_after_regular, M(req([{<<":path">>, <<"/">>}]))),
     ?_assertEqual(bad_pseudo_header, M([{<<":status">>, <<"200">>} | req([])])),
     ?_assertEqual(bad_pseudo_header, M([{<<":foo">>, <<"1">>} | req([])])),
     ?_assertEqual(duplicate_pseudo_header, M([{<<":method">>, <<"GET">>} | req([])])),
     ?_assertEqual(connection_specific_header, M(req([{<<"connection">>, <<"close">>}]))),
     ?_assertEqual(connection_specific_header, M(req([{<<"transfer-encoding">>, <<"chunked">>}]))),
     ?_assertEqual(bad_te, M(req([{<<"te">>, <<"gzip">>}]))),
     ?_assertEqual(bad_content_length, M(req([{<<"content-length">>, <<"-1">>}]))),
     ?_assertEqual(bad_content_length, M(req([{<<"content-length">>, <<"1">>},
                                              {<<"content-length">>, <<"2">>}]))),
     ?_assertEqual(missing_method, M(tl(req([])))),
     ?_assertEqual(missing_scheme, M(lists:keydelete(<<":scheme">>, 1, req([])))),
     ?_assertEqual(missing_path, M(lists:keydelete(<<":path">>, 1, req([])))),
     ?_assertEqual(empty_path, M(lists:keyreplace(<<":path">>, 1, req([]), {<<":path">>, <<>>})))].

trailers_test() ->
    ?assertEqual(ok, ?M:check_trailers([{<<"x-trailer">>, <<"1">>}])),
    ?assertEqual({error, {malformed, pseudo_header_after_regular}},
                 ?M:check_trailers([{<<":path">>, <<"/">>}])).

grpc_request_test_() ->
    G = fun(Changes) ->
                {ok, R} = ?M:check_request(req([])),
                ?M:grpc_request(maps:merge(R, Changes))
        end,
    [?_assertEqual({http, 405}, G(#{method => <<"GET">>})),
     ?_assertEqual({http, 415}, G(#{content_type => <<"text/plain">>})),
     ?_assertEqual({http, 415}, G(#{content_type => none})),
     ?_assertEqual({http, 415}, G(#{content_type => <<"application/grpcx">>})),
     ?_assertEqual({ok, diff}, G(#{content_type => <<"application/grpc+proto">>,
                                   path => <<"/bench.v1.Bench/Diff">>})),
     ?_assertEqual({ok, echo}, G(#{content_type => <<"application/grpc;charset=x">>})),
     ?_assertEqual({ok, echo}, G(#{grpc_encoding => <<"identity">>})),
     ?_assertMatch({grpc, unknown_op, _}, G(#{grpc_encoding => <<"gzip">>})),
     ?_assertEqual({grpc, unknown_op, <<"unknown method /bench.v1.Bench/Health">>},
                   G(#{path => <<"/bench.v1.Bench/Health">>}))].

messages_test_() ->
    D = fun(Bin) -> ?M:decode_message(Bin, 10) end,
    [?_assertEqual({ok, <<"abc">>}, D(<<0, 3:32, "abc">>)),
     ?_assertEqual({ok, <<>>}, D(<<0, 0:32>>)),
     ?_assertEqual({ok, <<"0123456789">>}, D(<<0, 10:32, "0123456789">>)),
     ?_assertMatch({error, too_large, _}, D(<<0, 11:32, "01234567890">>)),
     ?_assertMatch({error, too_large, _}, D(<<0, 16#ffffffff:32>>)),
     ?_assertEqual({error, bad_request, <<"no request message">>}, D(<<>>)),
     ?_assertEqual({error, bad_request, <<"truncated request message">>}, D(<<0, 3:32, "ab">>)),
     ?_assertEqual({error, bad_request, <<"truncated request message">>}, D(<<0, 0>>)),
     ?_assertEqual({error, bad_request, <<"more than one request message">>},
                   D(<<0, 1:32, "a", 0, 1:32, "b">>)),
     ?_assertEqual({error, bad_request, <<"compressed message without grpc-encoding">>},
                   D(<<1, 1:32, "a">>)),
     ?_assertEqual({error, bad_request, <<"bad message flag">>}, D(<<2, 1:32, "a">>)),
     ?_assertEqual(<<0, 3:32, "abc">>, iolist_to_binary(?M:encode_message(<<"abc">>)))].

status_test_() ->
    [?_assertEqual(0, ?M:status(ok)),
     ?_assertEqual(3, ?M:status(bad_request)),
     ?_assertEqual(12, ?M:status(unknown_op)),
     ?_assertEqual(8, ?M:status(too_large)),
     ?_assertEqual(13, ?M:status(internal))].

percent_encode_test() ->
    ?assertEqual(<<"a b%25c%0A%C3%A9">>, ?M:percent_encode(<<"a b%c\n", 195, 169>>)).

blocks_test() ->
    H = bench_hpack_codec:new_decoder(4096),
    Dec = fun(B) -> {ok, L, _} = bench_hpack_codec:decode(B, 16384, H), L end,
    ?assertEqual([{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>}],
                 Dec(?M:response_headers())),
    ?assertEqual([{<<"grpc-status">>, <<"0">>}], Dec(?M:trailers(ok, <<>>))),
    ?assertEqual([{<<":status">>, <<"200">>}, {<<"content-type">>, <<"application/grpc">>},
                  {<<"grpc-status">>, <<"8">>}, {<<"grpc-message">>, <<"too%0Abig">>}],
                 Dec(?M:trailers_only(too_large, <<"too\nbig">>))),
    ?assertEqual([{<<":status">>, <<"415">>}], Dec(?M:http_error(415))).
