%% @doc bench_ops against the echo and error vectors, and the test hooks.
-module(bench_ops_tests).
-include_lib("eunit/include/eunit.hrl").

echo_vectors_test_() ->
    {setup, fun() -> bench_vectors:init_ops(false) end,
     [{binary_to_list(Name),
       fun() ->
               Body = bench_vectors:body(Segs),
               {ok, Reply} = bench_ops:run(<<"echo">>, Body),
               ?assertEqual(Body, iolist_to_binary(Reply))
       end} || #{<<"name">> := Name, <<"body">> := Segs} <- bench_vectors:load("echo")]}.

error_vectors_test_() ->
    {setup, fun() -> bench_vectors:init_ops(true) end,
     [{binary_to_list(Name),
       fun() ->
               {error, Code, Message} = bench_ops:run(Op, bench_vectors:body(Segs)),
               ?assertEqual(Expected, atom_to_binary(Code)),
               ?assert(is_binary(Message))
       end} || #{<<"name">> := Name, <<"op">> := Op, <<"body">> := Segs,
                 <<"error">> := Expected} <- bench_vectors:load("errors")]}.

diff_vectors_with_extra_keys_test_() ->
    {setup, fun() -> bench_vectors:init_ops(false) end,
     [{binary_to_list(Name),
       fun() ->
               Request = iolist_to_binary(jiffy:encode(maps:merge(maps:get(<<"extra">>, V, #{}),
                                                 #{<<"a">> => A, <<"b">> => B}))),
               {ok, Reply} = bench_ops:run(<<"diff">>, Request),
               ?assertEqual(#{<<"opcodes">> => Ops}, jiffy:decode(iolist_to_binary(Reply),
                                                                  [return_maps]))
       end} || #{<<"name">> := Name, <<"a">> := A, <<"b">> := B, <<"opcodes">> := Ops} = V
                   <- bench_vectors:load("diff")]}.

%% Without BENCH_TEST_HOOKS the fault token is an ordinary token.
fault_token_is_ordinary_without_hooks_test() ->
    bench_vectors:init_ops(false),
    Body = <<"{\"a\": [\"__bench_fault__:internal\"], \"b\": []}">>,
    ?assertMatch({ok, _}, bench_ops:run(<<"diff">>, Body)).

hook_raises_inside_the_op_test() ->
    bench_vectors:init_ops(true),
    Body = <<"{\"a\": [\"__bench_fault__:internal\"], \"b\": []}">>,
    ?assertError({bench_fault_hook, internal}, bench_ops:diff(Body)),
    ?assertMatch({error, internal, _}, bench_ops:run(<<"diff">>, Body)).

extra_work_test() ->
    os:putenv("BENCH_EXTRA_WORK_US", "20000"),
    bench_ops:init_settings(#{max_body_bytes => 100, max_tokens => 10}),
    os:unsetenv("BENCH_EXTRA_WORK_US"),
    {Us, {ok, <<"x">>}} = timer:tc(bench_ops, run, [<<"echo">>, <<"x">>]),
    ?assert(Us >= 20000).

limits_are_settings_test() ->
    bench_ops:init_settings(#{max_body_bytes => 10, max_tokens => 2}),
    ?assertMatch({error, too_large, _}, bench_ops:run(<<"echo">>, <<"12345678901">>)),
    ?assertMatch({ok, _}, bench_ops:run(<<"echo">>, <<"1234567890">>)),
    bench_ops:init_settings(#{max_body_bytes => 100, max_tokens => 2}),
    ?assertMatch({error, too_large, _}, bench_ops:run(<<"diff">>, <<"{\"a\":[\"1\",\"2\"],\"b\":[\"3\"]}">>)),
    ?assertMatch({ok, _}, bench_ops:run(<<"diff">>, <<"{\"a\":[\"1\"],\"b\":[\"3\"]}">>)).

health_test() ->
    bench_vectors:init_ops(false),
    {ok, Body} = bench_ops:run(<<"health">>, <<>>),
    #{<<"service">> := <<"erlang">>, <<"language">> := <<"Erlang">>,
      <<"ops">> := Ops, <<"runtime">> := <<"Erlang/OTP ", _/binary>>} =
        jiffy:decode(Body, [return_maps]),
    ?assert(lists:member(<<"diff">>, Ops)).

error_body_test() ->
    ?assertEqual(#{<<"error">> => <<"bad_request">>, <<"message">> => <<"a \"quoted\" é"/utf8>>},
                 jiffy:decode(bench_ops:error_body(bad_request, <<"a \"quoted\" é"/utf8>>),
                              [return_maps])).

unknown_op_does_not_make_atoms_test() ->
    bench_vectors:init_ops(false),
    Op = <<"no_such_op_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    ?assertMatch({error, unknown_op, _}, bench_ops:run(Op, <<>>)),
    ?assertError(badarg, binary_to_existing_atom(Op)).
