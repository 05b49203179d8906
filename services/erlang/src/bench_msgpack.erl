%% @doc A pure MessagePack codec (no I/O), for Locust's master/worker channel.
%% Erlang terms: integers, floats (encoded as float64; float32 decodes to a float;
%% the infinities, which Locust's plans carry, are the atoms `infinity', `neg_infinity'), nil
%% (the atom `nil'), booleans, `{str, iodata()}' or a binary for str (see below),
%% `{bin, binary()}' for bin, lists for arrays, maps for maps.
%%
%% Encoding: a binary is encoded as msgpack str (Locust's strings are UTF-8 text);
%% `{bin, B}' forces bin. Decoding: str and bin both become binaries, since the channel's
%% bytes (request bodies) and text are both compared as bytes; `decode/2' with
%% `#{bin_tag => true}' returns `{bin, B}' for bin so that round-trips are exact.
%% No atoms are made from network input.
-module(bench_msgpack).

-export([encode/1, decode/1, decode/2]).
-export_type([value/0]).

-type value() :: integer() | float() | infinity | neg_infinity | nil | boolean() | binary() | {bin, binary()}
               | {str, iodata()} | [value()] | #{value() => value()}.

%% @doc Encodes a term as msgpack (smallest integer form, float64 for floats).
-spec encode(value()) -> iodata().
encode(nil) -> <<16#c0>>;
encode(infinity) -> <<16#cb, 16#7ff0000000000000:64>>;
encode(neg_infinity) -> <<16#cb, 16#fff0000000000000:64>>;
encode(false) -> <<16#c2>>;
encode(true) -> <<16#c3>>;
encode(N) when is_integer(N) -> int(N);
encode(F) when is_float(F) -> <<16#cb, F:64/float>>;
encode(B) when is_binary(B) -> str(B);
encode({str, S}) -> str(iolist_to_binary(S));
encode({bin, B}) -> bin(B);
encode(L) when is_list(L) -> [array_header(length(L)) | [encode(X) || X <- L]];
encode(M) when is_map(M) ->
    [map_header(map_size(M)) | [[encode(K), encode(V)] || {K, V} <- maps:to_list(M)]];
encode(A) when is_atom(A) -> str(atom_to_binary(A, utf8)).

int(N) when N >= 0, N =< 16#7f -> <<N>>;
int(N) when N < 0, N >= -32 -> <<N:8/signed>>;
int(N) when N >= 0, N =< 16#ff -> <<16#cc, N>>;
int(N) when N >= 0, N =< 16#ffff -> <<16#cd, N:16>>;
int(N) when N >= 0, N =< 16#ffffffff -> <<16#ce, N:32>>;
int(N) when N >= 0, N =< 16#ffffffffffffffff -> <<16#cf, N:64>>;
int(N) when N >= -16#80 -> <<16#d0, N:8/signed>>;
int(N) when N >= -16#8000 -> <<16#d1, N:16/signed>>;
int(N) when N >= -16#80000000 -> <<16#d2, N:32/signed>>;
int(N) when N >= -16#8000000000000000 -> <<16#d3, N:64/signed>>.

str(B) ->
    case byte_size(B) of
        S when S =< 31 -> [<<(16#a0 bor S)>>, B];
        S when S =< 16#ff -> [<<16#d9, S>>, B];
        S when S =< 16#ffff -> [<<16#da, S:16>>, B];
        S -> [<<16#db, S:32>>, B]
    end.

bin(B) ->
    case byte_size(B) of
        S when S =< 16#ff -> [<<16#c4, S>>, B];
        S when S =< 16#ffff -> [<<16#c5, S:16>>, B];
        S -> [<<16#c6, S:32>>, B]
    end.

array_header(N) when N =< 15 -> <<(16#90 bor N)>>;
array_header(N) when N =< 16#ffff -> <<16#dc, N:16>>;
array_header(N) -> <<16#dd, N:32>>.

map_header(N) when N =< 15 -> <<(16#80 bor N)>>;
map_header(N) when N =< 16#ffff -> <<16#de, N:16>>;
map_header(N) -> <<16#df, N:32>>.

%% @doc Decodes exactly one msgpack value filling the whole binary.
-spec decode(binary()) -> {ok, value()} | {error, term()}.
decode(Bin) -> decode(Bin, #{}).

%% @doc As decode/1; `bin_tag => true' keeps bin apart from str as `{bin, B}'.
-spec decode(binary(), #{bin_tag => boolean()}) -> {ok, value()} | {error, term()}.
decode(Bin, Opts) ->
    Tag = maps:get(bin_tag, Opts, false),
    try value(Bin, Tag) of
        {V, <<>>} -> {ok, V};
        {_, Rest} -> {error, {trailing_bytes, byte_size(Rest)}}
    catch
        error:{badmatch, _} -> {error, truncated};
        error:function_clause -> {error, truncated};
        throw:{msgpack, Why} -> {error, Why}
    end.

value(<<N, R/binary>>, _) when N =< 16#7f -> {N, R};
value(<<2#111:3, _:5, _/binary>> = B, _) -> <<N:8/signed, R/binary>> = B, {N, R};
value(<<2#101:3, S:5, R/binary>>, _) -> take(S, R, str, false);
value(<<2#1001:4, N:4, R/binary>>, T) -> array(N, R, T, []);
value(<<2#1000:4, N:4, R/binary>>, T) -> map(N, R, T, []);
value(<<16#c0, R/binary>>, _) -> {nil, R};
value(<<16#c2, R/binary>>, _) -> {false, R};
value(<<16#c3, R/binary>>, _) -> {true, R};
value(<<16#c4, S, R/binary>>, T) -> take(S, R, bin, T);
value(<<16#c5, S:16, R/binary>>, T) -> take(S, R, bin, T);
value(<<16#c6, S:32, R/binary>>, T) -> take(S, R, bin, T);
value(<<16#ca, F:32/float, R/binary>>, _) -> {F, R};
value(<<16#cb, F:64/float, R/binary>>, _) -> {F, R};
value(<<16#cb, 16#7ff0000000000000:64, R/binary>>, _) -> {infinity, R};
value(<<16#cb, 16#fff0000000000000:64, R/binary>>, _) -> {neg_infinity, R};
value(<<16#ca, 16#7f800000:32, R/binary>>, _) -> {infinity, R};
value(<<16#ca, 16#ff800000:32, R/binary>>, _) -> {neg_infinity, R};
value(<<16#ca, _:32, _/binary>>, _) -> throw({msgpack, nan});
value(<<16#cb, _:64, _/binary>>, _) -> throw({msgpack, nan});
value(<<16#cc, N, R/binary>>, _) -> {N, R};
value(<<16#cd, N:16, R/binary>>, _) -> {N, R};
value(<<16#ce, N:32, R/binary>>, _) -> {N, R};
value(<<16#cf, N:64, R/binary>>, _) -> {N, R};
value(<<16#d0, N:8/signed, R/binary>>, _) -> {N, R};
value(<<16#d1, N:16/signed, R/binary>>, _) -> {N, R};
value(<<16#d2, N:32/signed, R/binary>>, _) -> {N, R};
value(<<16#d3, N:64/signed, R/binary>>, _) -> {N, R};
value(<<16#d9, S, R/binary>>, _) -> take(S, R, str, false);
value(<<16#da, S:16, R/binary>>, _) -> take(S, R, str, false);
value(<<16#db, S:32, R/binary>>, _) -> take(S, R, str, false);
value(<<16#dc, N:16, R/binary>>, T) -> array(N, R, T, []);
value(<<16#dd, N:32, R/binary>>, T) -> array(N, R, T, []);
value(<<16#de, N:16, R/binary>>, T) -> map(N, R, T, []);
value(<<16#df, N:32, R/binary>>, T) -> map(N, R, T, []);
value(<<B, _/binary>>, _) when B =:= 16#c1; B >= 16#c7, B =< 16#c9; B >= 16#d4, B =< 16#d8 ->
    %% never used (c1) or ext types, which Locust's messages do not carry
    throw({msgpack, {unsupported_type, B}});
value(<<_, _/binary>>, _) ->
    %% a known type whose header or body is cut short
    throw({msgpack, truncated}).

take(S, R, Kind, Tag) ->
    <<B:S/binary, Rest/binary>> = R,
    {case {Kind, Tag} of {bin, true} -> {bin, B}; _ -> B end, Rest}.

array(0, R, _, Acc) -> {lists:reverse(Acc), R};
array(N, R, T, Acc) ->
    {V, R1} = value(R, T),
    array(N - 1, R1, T, [V | Acc]).

map(0, R, _, Acc) -> {maps:from_list(Acc), R};
map(N, R, T, Acc) ->
    {K, R1} = value(R, T),
    {V, R2} = value(R1, T),
    map(N - 1, R2, T, [{K, V} | Acc]).
