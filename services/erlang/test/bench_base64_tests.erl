%% @doc bench_base64:decode/1 is base64:decode/1: the same result or the same refusal.
-module(bench_base64_tests).
-include_lib("eunit/include/eunit.hrl").

same(Input) ->
    Expected = try {ok, base64:decode(Input)} catch error:E1 -> {error, E1} end,
    Got = try {ok, bench_base64:decode(Input)} catch error:E2 -> {error, E2} end,
    ?assertEqual({Input, Expected}, {Input, Got}).

random_round_trips_test() ->
    rand:seed(exsss, {1, 2, 3}),
    [begin
         Raw = rand:bytes(N),
         Encoded = base64:encode(Raw),
         ?assertEqual(Raw, bench_base64:decode(Encoded)),
         same(Encoded)
     end || N <- lists:seq(0, 80) ++ [1000, 4095, 65536, 65537, 100000]].

malformed_inputs_test() ->
    rand:seed(exsss, {4, 5, 6}),
    Valid = base64:encode(rand:bytes(96)),
    Bad = [<<"QQ==QQ==">>, <<"QR==">>, <<"QUJD\nREVG">>, <<"QUJDREVG QUJD">>, <<"QUJD=EVG">>,
           <<"QUJDREV">>, <<"QUJDREVGR">>, <<"QUJD-_VG">>, <<"QUJD", 0, "EVG">>, <<"QUJDREVGQR==">>,
           <<"QUJDREVGQUJ=">>, <<"QUJDREVG====">>, <<"QUJD", 200, "EVGQUJD">>, <<>>, <<"====">>],
    [same(B) || B <- Bad],
    %% one byte of a valid text replaced by every possible byte, at several places
    [same(<<(binary:part(Valid, 0, P))/binary, C, (binary:part(Valid, P + 1, byte_size(Valid) - P - 1))/binary>>)
     || P <- [0, 1, 7, 8, 50, byte_size(Valid) - 5, byte_size(Valid) - 1], C <- lists:seq(0, 255)].
