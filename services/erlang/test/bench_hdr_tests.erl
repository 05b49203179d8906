-module(bench_hdr_tests).
-include_lib("eunit/include/eunit.hrl").

%% HdrHistogram's layout for 1..60 000 000 at 3 digits: 16 buckets, 17 408 counts.
layout_test_() ->
    [?_assertEqual(17408, bench_hdr:counts_length()),
     ?_assertEqual(0, bench_hdr:index_of(0 + 1) - 1),
     ?_assertEqual(2047, bench_hdr:index_of(2047)),
     ?_assertEqual(2048, bench_hdr:index_of(2048)),      % first of bucket 1: width 2
     ?_assertEqual(2048, bench_hdr:index_of(2049)),
     ?_assertEqual(2049, bench_hdr:index_of(2050)),
     ?_assertEqual(3072, bench_hdr:index_of(4096)),      % bucket 2: width 4
     ?_assertEqual(4096, bench_hdr:value_of(3072)),
     ?_assertEqual(2049, bench_hdr:highest_equivalent(2048)),
     ?_assertEqual(4099, bench_hdr:highest_equivalent(4096)),
     ?_assert(bench_hdr:index_of(60000000) < 17408)].

index_and_value_agree_test() ->
    [begin
         I = bench_hdr:index_of(V),
         ?assert(bench_hdr:value_of(I) =< V),
         ?assert(V =< bench_hdr:highest_equivalent(bench_hdr:value_of(I)))
     end || V <- [1, 2, 1000, 2047, 2048, 3000, 65535, 1 bsl 20, 59999999, 60000000]].

clamp_test_() ->
    [?_assertEqual(1, bench_hdr:clamp_us(0)), ?_assertEqual(1, bench_hdr:clamp_us(-5.0)),
     ?_assertEqual(2, bench_hdr:clamp_us(1.5)), ?_assertEqual(1, bench_hdr:clamp_us(1.49)),
     ?_assertEqual(60000000, bench_hdr:clamp_us(1.0e12))].

percentiles_test() ->
    H = bench_hdr:new(),
    [bench_hdr:record(H, V) || V <- lists:seq(1, 1000)],
    C = bench_hdr:snapshot(H),
    ?assertEqual(1000, bench_hdr:total(C)),
    ?assertEqual(500, bench_hdr:value_at_percentile(C, 50.0)),
    ?assertEqual(990, bench_hdr:value_at_percentile(C, 99.0)),
    ?assertEqual(1000, bench_hdr:value_at_percentile(C, 100.0)),
    S = bench_hdr:summary(C),
    ?assertEqual(1000.0, maps:get(<<"count">>, S)),
    ?assertEqual(1.0, maps:get(<<"min">>, S)),
    ?assertEqual(500.5, maps:get(<<"mean">>, S)).

empty_summary_test() ->
    ?assertEqual(#{<<"count">> => 0}, bench_hdr:summary(bench_hdr:snapshot(bench_hdr:new()))).

%% The V2 compressed layout: outer cookie and length, zlib'd header with our parameters,
%% zigzag LEB128 counts with a run of zeros as one negative count.
encoding_layout_test() ->
    H = bench_hdr:new(),
    bench_hdr:record(H, 1), bench_hdr:record(H, 1), bench_hdr:record(H, 5), bench_hdr:record(H, 300),
    <<16#1c849304:32, Len:32, Z/binary>> = base64:decode(bench_hdr:encode(H)),
    ?assertEqual(Len, byte_size(Z)),
    <<16#1c849303:32, PLen:32, 0:32, 3:32, 1:64, 60000000:64, 1.0:64/float, Payload/binary>> =
        zlib:uncompress(Z),
    ?assertEqual(PLen, byte_size(Payload)),
    %% index 0: 0; index 1: 2; 2..4 zero (-3); 5: 1; 6..299 zero (-294); 300: 1
    ?assertEqual(<<0, 4, 5, 2, 16#cb, 16#04, 2>>, Payload).

add_counts_test() ->
    A = bench_hdr:new(), B = bench_hdr:new(),
    bench_hdr:record(A, 10), bench_hdr:record(B, 10), bench_hdr:record(B, 20000),
    S = bench_hdr:add_counts(bench_hdr:snapshot(A), bench_hdr:snapshot(B)),
    ?assertEqual(3, bench_hdr:total(S)).

%% index_of's bucket by comparisons equals the bit-by-bit definition at every power of two
%% around the layout (and past it), and on every value of the first buckets.
index_of_matches_bit_length_test() ->
    BitLength = fun BL(0, N) -> N; BL(X, N) -> BL(X bsr 1, N + 1) end,
    Ref = fun(V) ->
                  B = BitLength(V bor 2047, 0) - 11,
                  ((B + 1) bsl 10) + ((V bsr B) - 1024)
          end,
    Values = lists:seq(1, 5000) ++ [(1 bsl K) + D || K <- lists:seq(11, 40), D <- [-1, 0, 1]]
        ++ [60000000, 59999999],
    ?assertEqual([], [V || V <- Values, Ref(V) =/= bench_hdr:index_of(V)]).
