%% @doc An HdrHistogram of microseconds with the harness's fixed parameters (lowest 1,
%% highest 60 000 000, 3 significant digits: HdrHistogram's bucket layout, 16 buckets of
%% 1024 half sub-buckets, 17 408 counts), its counts in `counters' (so that every user
%% process of a caller records into one histogram without messages), and the V2
%% compressed encoding (zigzag LEB128 counts, cookie 16#1c849303, zlib inside cookie
%% 16#1c849304, base64) that Java's and Python's HdrHistogram read.
%%
%% The pure part works on a counts tuple (`snapshot/1'): index/value arithmetic,
%% percentiles, encoding.
-module(bench_hdr).

-export([new/0, record/2, clamp_us/1, snapshot/1, index_of/1, value_of/1,
         highest_equivalent/1, total/1, value_at_percentile/2, summary/1,
         encode/1, encode_counts/1, add_counts/2, counts_length/0]).
-export_type([histogram/0, counts/0]).

-define(LOWEST, 1).
-define(HIGHEST, 60000000).
-define(DIGITS, 3).
-define(SUB_HALF_MAG, 10).            % log2(1024)
-define(SUB_HALF, 1024).
-define(SUB_MASK, 2047).
-define(BUCKETS, 16).
-define(LENGTH, 17408).               % (BUCKETS + 1) * SUB_HALF
-define(ENCODING_COOKIE, 16#1c849303).
-define(COMPRESSION_COOKIE, 16#1c849304).

-opaque histogram() :: counters:counters_ref().
-type counts() :: tuple().            % ?LENGTH counts, element I + 1 = count at index I

%% @doc An empty histogram, safe to record into from many processes at once.
-spec new() -> histogram().
new() -> counters:new(?LENGTH, [write_concurrency]).

%% @doc Records one latency in microseconds (float or integer; rounded half up, clamped).
-spec record(histogram(), number()) -> ok.
record(H, Micros) -> counters:add(H, index_of(clamp_us(Micros)) + 1, 1).

%% @doc Microseconds as the harness records them: an integer (half up) in [1, 60 000 000].
-spec clamp_us(number()) -> pos_integer().
clamp_us(Micros) ->
    V = floor(Micros + 0.5),
    if V < ?LOWEST -> ?LOWEST; V > ?HIGHEST -> ?HIGHEST; true -> V end.

%% @doc The counts as a tuple (a consistent-enough copy while others record).
-spec snapshot(histogram()) -> counts().
snapshot(H) -> list_to_tuple([counters:get(H, I) || I <- lists:seq(1, ?LENGTH)]).

%% @doc The number of counts of the layout.
-spec counts_length() -> pos_integer().
counts_length() -> ?LENGTH.

%% @doc The counts index of a value (HdrHistogram's countsArrayIndex, unit magnitude 0).
-spec index_of(pos_integer()) -> non_neg_integer().
index_of(V) ->
    Bucket = bucket(V bor ?SUB_MASK),
    Sub = V bsr Bucket,
    ((Bucket + 1) bsl ?SUB_HALF_MAG) + (Sub - ?SUB_HALF).

%% bit_length(X) - 11 for X >= 2047, by comparisons for the values the layout holds (two
%% to three per latency recorded instead of a shift per bit: this is on every request's
%% path); the general loop past 2^27.
bucket(X) when X < 16#10000 ->
    if X < 16#800 -> 0; X < 16#1000 -> 1; X < 16#2000 -> 2; X < 16#4000 -> 3;
       X < 16#8000 -> 4; true -> 5
    end;
bucket(X) when X < 16#8000000 ->
    if X < 16#20000 -> 6; X < 16#40000 -> 7; X < 16#80000 -> 8; X < 16#100000 -> 9;
       X < 16#200000 -> 10; X < 16#400000 -> 11; X < 16#800000 -> 12; X < 16#1000000 -> 13;
       X < 16#2000000 -> 14; X < 16#4000000 -> 15; true -> 16
    end;
bucket(X) ->
    bit_length(X) - (?SUB_HALF_MAG + 1).

bit_length(V) -> bit_length(V, 0).
bit_length(0, N) -> N;
bit_length(V, N) -> bit_length(V bsr 1, N + 1).

%% @doc The lowest value counted at an index.
-spec value_of(non_neg_integer()) -> non_neg_integer().
value_of(I) ->
    B = (I bsr ?SUB_HALF_MAG) - 1,
    S = (I band (?SUB_HALF - 1)) + ?SUB_HALF,
    case B < 0 of
        true -> S - ?SUB_HALF;
        false -> S bsl B
    end.

%% @doc The highest value equivalent to V (counted at the same index).
-spec highest_equivalent(non_neg_integer()) -> non_neg_integer().
highest_equivalent(V) ->
    I = index_of(max(V, 1)),
    value_of(I + 1) - 1.

%% @doc The total count.
-spec total(counts()) -> non_neg_integer().
total(C) -> lists:sum(tuple_to_list(C)).

%% @doc HdrHistogram's getValueAtPercentile (the highest equivalent value of the index
%% where the cumulative count reaches round(P% of total)); 0 for an empty histogram.
-spec value_at_percentile(counts(), float()) -> non_neg_integer().
value_at_percentile(C, P) ->
    case total(C) of
        0 -> 0;
        N ->
            Want = max(1, floor(min(P, 100.0) / 100.0 * N + 0.5)),
            at_count(C, Want, 1, 0)
    end.

at_count(C, Want, I, Acc) ->
    Acc1 = Acc + element(I, C),
    case Acc1 >= Want of
        true -> highest_equivalent(value_of(I - 1));
        false -> at_count(C, Want, I + 1, Acc1)
    end.

%% @doc LOADGEN.md's summary: `#{count => 0}', or p50/p90/p99/p99.9/min/mean/max/count.
-spec summary(counts()) -> map().
summary(C) ->
    case total(C) of
        0 -> #{<<"count">> => 0};
        N ->
            Nonzero = [{I - 1, element(I, C)} || I <- lists:seq(1, ?LENGTH), element(I, C) > 0],
            {MinI, _} = hd(Nonzero),
            {MaxI, _} = lists:last(Nonzero),
            Sum = lists:sum([median_equivalent(I) * K || {I, K} <- Nonzero]),
            Pct = [{Key, float(value_at_percentile(C, P))}
                   || {Key, P} <- [{<<"p50">>, 50.0}, {<<"p90">>, 90.0}, {<<"p99">>, 99.0},
                                   {<<"p99.9">>, 99.9}]],
            maps:from_list(Pct ++ [{<<"min">>, float(value_of(MinI))},
                                   {<<"mean">>, round(Sum / N * 10) / 10},
                                   {<<"max">>, float(highest_equivalent(value_of(MaxI)))},
                                   {<<"count">>, float(N)}])
    end.

median_equivalent(I) ->
    Low = value_of(I),
    Low + (value_of(I + 1) - Low) div 2.

%% @doc Adds two counts tuples (the exact merge of two histograms).
-spec add_counts(counts(), counts()) -> counts().
add_counts(A, B) ->
    list_to_tuple(lists:zipwith(fun(X, Y) -> X + Y end, tuple_to_list(A), tuple_to_list(B))).

%% @doc A histogram as base64 text of its V2 compressed encoding.
-spec encode(histogram()) -> binary().
encode(H) -> encode_counts(snapshot(H)).

%% @doc Counts as base64 text of the V2 compressed encoding: counts up to the last
%% non-zero one, zigzag LEB128, runs of zeros as one negative count.
-spec encode_counts(counts()) -> binary().
encode_counts(C) ->
    Counts = trim(lists:reverse(tuple_to_list(C))),
    Payload = iolist_to_binary(varints(Counts)),
    Inner = <<?ENCODING_COOKIE:32, (byte_size(Payload)):32, 0:32, ?DIGITS:32,
              ?LOWEST:64, ?HIGHEST:64, 1.0:64/float, Payload/binary>>,
    Z = zlib:compress(Inner),
    base64:encode(<<?COMPRESSION_COOKIE:32, (byte_size(Z)):32, Z/binary>>).

trim([0 | Rest]) -> trim(Rest);
trim(Rev) -> lists:reverse(Rev).

varints([]) -> [];
varints([0 | Rest]) ->
    {Zeros, Rest1} = zeros(Rest, 1),
    [leb(zigzag(case Zeros of 1 -> 0; _ -> -Zeros end)) | varints(Rest1)];
varints([N | Rest]) ->
    [leb(zigzag(N)) | varints(Rest)].

zeros([0 | Rest], N) -> zeros(Rest, N + 1);
zeros(Rest, N) -> {N, Rest}.

zigzag(N) when N >= 0 -> N bsl 1;
zigzag(N) -> ((-N) bsl 1) - 1.

leb(N) when N < 128 -> <<N>>;
leb(N) -> <<1:1, (N band 127):7, (leb(N bsr 7))/binary>>.
