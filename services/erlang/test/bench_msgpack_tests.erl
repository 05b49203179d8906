-module(bench_msgpack_tests).
-include_lib("eunit/include/eunit.hrl").
-include("bench_msgpack_vectors.hrl").

%% Every term encodes to exactly the bytes Python's msgpack writes, and those bytes
%% decode back to the term (bin kept apart with bin_tag). A map of several keys has no
%% order in Erlang: its bytes may differ in order only (same size, same decoded value).
python_vectors_test_() ->
    [{lists:flatten(io_lib:format("~0P", [Term, 6])),
      fun() ->
              Ours = iolist_to_binary(bench_msgpack:encode(Term)),
              case has_multi_key_map(Term) of
                  false -> ?assertEqual(Bytes, Ours);
                  true -> ?assertEqual(byte_size(Bytes), byte_size(Ours))
              end,
              ?assertEqual({ok, Term}, bench_msgpack:decode(Bytes, #{bin_tag => true}))
      end} || {Term, Bytes} <- ?MSGPACK_VECTORS].

has_multi_key_map(M) when is_map(M) -> map_size(M) > 1;
has_multi_key_map(L) when is_list(L) -> lists:any(fun has_multi_key_map/1, L);
has_multi_key_map(_) -> false.

bin_decodes_to_a_binary_by_default_test() ->
    ?assertEqual({ok, <<1, 2>>}, bench_msgpack:decode(<<16#c4, 2, 1, 2>>)).

float32_decodes_test() ->
    ?assertEqual({ok, 1.5}, bench_msgpack:decode(<<16#ca, 1.5:32/float>>)).

str_forced_from_iodata_test() ->
    ?assertEqual(<<16#a2, "ab">>, iolist_to_binary(bench_msgpack:encode({str, ["a", <<"b">>]}))).

truncated_and_trailing_test_() ->
    [?_assertEqual({error, truncated}, bench_msgpack:decode(<<16#a5, "abc">>)),
     ?_assertEqual({error, truncated}, bench_msgpack:decode(<<16#92, 1>>)),
     ?_assertEqual({error, truncated}, bench_msgpack:decode(<<16#cd, 1>>)),
     ?_assertEqual({error, truncated}, bench_msgpack:decode(<<>>)),
     ?_assertEqual({error, {trailing_bytes, 1}}, bench_msgpack:decode(<<1, 2>>)),
     ?_assertEqual({error, {unsupported_type, 16#c1}}, bench_msgpack:decode(<<16#c1>>)),
     ?_assertEqual({error, nan}, bench_msgpack:decode(<<16#cb, 16#7ff8000000000000:64>>))].

round_trip_nested_test() ->
    T = #{<<"a">> => [1, -1, 3.25, nil, true, {bin, <<0>>}, #{7 => <<"x">>}], 300 => -70000},
    ?assertEqual({ok, T}, bench_msgpack:decode(iolist_to_binary(bench_msgpack:encode(T)),
                                               #{bin_tag => true})).
