%% @doc bench_celery_proto (envelopes, argument checks, result documents) and
%% bench_celery:handle/2 (a message in, the result document out) without Redis. The
%% transport itself is tested end to end with a real redis-server and a real Celery
%% client in test/celery_interop.py.
-module(bench_celery_tests).
-include_lib("eunit/include/eunit.hrl").

%% A message exactly as kombu 5.7's Redis transport LPUSHed it for
%% `app.send_task("bench.echo", args=["héllo"], queue="bench.python")' (redis-cli MONITOR).
-define(KOMBU_ECHO, <<"{\"body\": \"W1siaFx1MDBlOWxsbyJdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3MiOiBudWxsLCAiY2hhaW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", \"task\": \"bench.echo\", \"id\": \"5eab73c0-71d8-4bd8-9653-9b3543471922\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"5eab73c0-71d8-4bd8-9653-9b3543471922\", \"parent_id\": null, \"argsrepr\": \"['h\\u00e9llo']\", \"kwargsrepr\": \"{}\", \"origin\": \"gen24620@vm\", \"ignore_result\": null, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}}, \"properties\": {\"correlation_id\": \"5eab73c0-71d8-4bd8-9653-9b3543471922\", \"reply_to\": \"7d523d04-a0a3-35bf-bad7-3bbb3250110a\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"bench.python\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"19c50f39-ac47-4982-be21-8bee51621dbc\"}}">>).

-define(ID, <<"5eab73c0-71d8-4bd8-9653-9b3543471922">>).
%% 2026-11-23T20:30:38.797639Z in microseconds.
-define(NOW, 1795465838797639).

%% An envelope shaped like kombu's, with a body of our choosing (raw bytes, base64ed).
envelope(Headers, RawBody) ->
    envelope(Headers, RawBody, #{}).

envelope(Headers, RawBody, Overrides) ->
    Base = #{<<"body">> => base64:encode(iolist_to_binary(RawBody)),
             <<"content-encoding">> => <<"utf-8">>,
             <<"content-type">> => <<"application/json">>,
             <<"headers">> => maps:merge(#{<<"lang">> => <<"py">>, <<"shadow">> => null,
                                           <<"eta">> => null, <<"group">> => null,
                                           <<"parent_id">> => null, <<"retries">> => 0,
                                           <<"ignore_result">> => null}, Headers),
             <<"properties">> => #{<<"body_encoding">> => <<"base64">>,
                                   <<"delivery_tag">> => <<"tag-1">>, <<"priority">> => 0}},
    iolist_to_binary(jiffy:encode(maps:merge(Base, Overrides))).

task(Name, Id, Args, Kwargs) ->
    envelope(#{<<"task">> => Name, <<"id">> => Id},
             jiffy:encode([Args, Kwargs, #{<<"callbacks">> => null, <<"chain">> => null}])).

%% The stored document, decoded.
doc(Message) ->
    {store, Key, Doc} = bench_celery:handle(Message, ?NOW),
    #{<<"task_id">> := Id} = Decoded = jiffy:decode(Doc, [return_maps]),
    ?assertEqual(<<"celery-task-meta-", Id/binary>>, Key),
    Decoded.

%% ----------------------------------------------------------------- envelope decoding

kombu_message_test() ->
    {ok, Meta, Args, Kwargs} = bench_celery_proto:decode(?KOMBU_ECHO),
    ?assertEqual(#{id => ?ID, task => <<"bench.echo">>, ignore_result => false,
                   group => undefined, parent_id => undefined,
                   plain => false}, Meta),   % the body's JSON escapes the é: not plain
    ?assertEqual([<<"héllo"/utf8>>], Args),
    ?assertEqual(#{}, Kwargs).

dead_letters_test_() ->
    Dead = fun(M) -> ?_assertMatch({dead, _}, bench_celery_proto:decode(M)) end,
    [Dead(<<>>),
     Dead(<<"not json">>),
     Dead(<<"[1, 2]">>),
     Dead(<<"{\"headers\": {}}">>),
     Dead(<<"{\"headers\": {\"id\": \"\"}}">>),
     Dead(<<"{\"headers\": {\"id\": 42}}">>),
     Dead(<<"{\"headers\": {\"id\": \"x\"} trailing">>),
     %% protocol v1: the id is in the body, not in headers
     Dead(iolist_to_binary(jiffy:encode(#{<<"body">> => <<"e30=">>, <<"headers">> => #{}})))].

bad_envelopes_with_an_id_test_() ->
    Headers = #{<<"task">> => <<"bench.echo">>, <<"id">> => <<"i-1">>},
    Good = jiffy:encode([[<<"x">>], #{}, #{}]),
    Bad = fun(Message) ->
                  ?_assertMatch({bad, #{id := <<"i-1">>}, _}, bench_celery_proto:decode(Message))
          end,
    [Bad(envelope(#{<<"id">> => <<"i-1">>}, Good)),                       % no task name
     Bad(envelope(Headers, Good, #{<<"content-type">> => <<"application/x-python-serialize">>})),
     Bad(envelope(Headers, Good, #{<<"content-encoding">> => <<"binary">>})),
     Bad(envelope(Headers, Good, #{<<"properties">> => #{}})),
     Bad(envelope(Headers, Good, #{<<"body">> => <<"!!not base64!!">>})),
     Bad(envelope(Headers, Good, #{<<"body">> => 12})),
     Bad(envelope(Headers, <<"[[\"x\"], {}]">>)),                        % no embed
     Bad(envelope(Headers, <<"[{}, {}, {}]">>)),                          % args not a list
     Bad(envelope(Headers, <<"[[\"x\"], [], {}]">>)),                     % kwargs not a map
     Bad(envelope(Headers, <<"[[\"\\ud800\"], {}, {}]">>)),               % lone surrogate
     Bad(envelope(Headers, <<"[[\"\\udc00\\ud800\"], {}, {}]">>)),        % reversed pair
     Bad(envelope(Headers, <<"[[\"", 16#ff, "\"], {}, {}]">>)),           % not UTF-8
     Bad(envelope(Headers, <<"[[\"x\"], {}, {}] x">>))].                  % trailing data

surrogate_pairs_are_characters_test() ->
    Message = envelope(#{<<"task">> => <<"bench.echo">>, <<"id">> => <<"i">>},
                       <<"[[\"\\ud83d\\ude00\"], {}, {}]">>),
    ?assertMatch({ok, _, [<<"😀"/utf8>>], #{}}, bench_celery_proto:decode(Message)).

group_parent_and_ignore_result_test() ->
    Message = envelope(#{<<"task">> => <<"bench.health">>, <<"id">> => <<"i">>,
                         <<"group">> => <<"g">>, <<"parent_id">> => <<"p">>,
                         <<"ignore_result">> => true}, <<"[[], {}, {}]">>),
    ?assertMatch({ok, #{group := <<"g">>, parent_id := <<"p">>, ignore_result := true}, [], _},
                 bench_celery_proto:decode(Message)).

names_and_ids_never_become_atoms_test() ->
    Name = <<"bench.never_an_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Id = <<"id_never_an_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    bench_vectors:init_ops(false),
    {store, _, _} = bench_celery:handle(task(Name, Id, [], #{}), ?NOW),
    ?assertError(badarg, binary_to_existing_atom(Name)),
    ?assertError(badarg, binary_to_existing_atom(Id)).

%% ------------------------------------------------------------------- argument checks

call_test_() ->
    C = fun bench_celery_proto:call/3,
    [?_assertEqual({ok, {echo, <<"t">>}}, C(<<"bench.echo">>, [<<"t">>], #{})),
     ?_assertEqual({ok, {diff, [<<"a">>], []}}, C(<<"bench.diff">>, [[<<"a">>], []], #{})),
     ?_assertEqual({ok, {diff, [<<"a">>], [<<"b">>]}},
                   C(<<"bench.diff">>, [], #{<<"a">> => [<<"a">>], <<"b">> => [<<"b">>]})),
     ?_assertEqual({ok, health}, C(<<"bench.health">>, [], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.echo">>, [], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.echo">>, [1], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.echo">>, [null], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.echo">>, [<<"a">>, <<"b">>], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.echo">>, [<<"a">>], #{<<"x">> => 1})),
     ?_assertMatch({bad_request, _}, C(<<"bench.diff">>, [[<<"a">>]], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.diff">>, [[<<"a">>], [], []], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.diff">>, [], #{<<"a">> => []})),
     ?_assertMatch({bad_request, _}, C(<<"bench.diff">>, [[], []], #{<<"a">> => []})),
     ?_assertEqual({bad_request, <<"'a' must be an array of strings">>},
                   C(<<"bench.diff">>, [<<"a">>, []], #{})),
     ?_assertEqual({bad_request, <<"'a' must be an array of strings">>},
                   C(<<"bench.diff">>, [[1], []], #{})),
     ?_assertEqual({bad_request, <<"'b' must be an array of strings">>},
                   C(<<"bench.diff">>, [[], null], #{})),
     ?_assertEqual({bad_request, <<"'b' must be an array of strings">>},
                   C(<<"bench.diff">>, [[], [[<<"x">>]]], #{})),
     ?_assertMatch({bad_request, _}, C(<<"bench.health">>, [1], #{})),
     ?_assertEqual(not_registered, C(<<"bench.frobnicate">>, [], #{})),
     ?_assertEqual(not_registered, C(<<"echo">>, [<<"t">>], #{}))].

%% ---------------------------------------------------------------- result documents

date_done_test() ->
    ?assertEqual(<<"2026-11-23T20:30:38.797639+00:00">>, bench_celery_proto:date_done(?NOW)).

%% Byte for byte what Celery 5.7's worker stored for this task (redis-cli MONITOR), but for
%% date_done, which is the worker's clock.
success_document_bytes_test() ->
    {store, Key, Doc} = bench_celery:handle(?KOMBU_ECHO, ?NOW),
    ?assertEqual(<<"celery-task-meta-", ?ID/binary>>, Key),
    ?assertEqual(<<"{\"status\": \"SUCCESS\", \"result\": \"héllo\", \"traceback\": null, "
                   "\"children\": [], \"date_done\": \"2026-11-23T20:30:38.797639+00:00\", "
                   "\"task_id\": \"5eab73c0-71d8-4bd8-9653-9b3543471922\"}"/utf8>>, Doc).

not_registered_document_test() ->
    bench_vectors:init_ops(false),
    ?assertEqual(#{<<"status">> => <<"FAILURE">>,
                   <<"result">> => #{<<"exc_type">> => <<"NotRegistered">>,
                                     <<"exc_message">> => [<<"bench.nope">>],
                                     <<"exc_module">> => <<"celery.exceptions">>},
                   <<"traceback">> => null, <<"children">> => [],
                   <<"date_done">> => <<"2026-11-23T20:30:38.797639+00:00">>,
                   <<"task_id">> => <<"t-1">>},
                 doc(task(<<"bench.nope">>, <<"t-1">>, [1], #{}))).

bad_arguments_are_value_errors_test() ->
    bench_vectors:init_ops(false),
    ?assertMatch(#{<<"result">> := #{<<"exc_message">> := [<<"bad_request: 'a' must", _/binary>>]}},
                 doc(task(<<"bench.diff">>, <<"t">>, [1, 2], #{}))),
    Doc = doc(task(<<"bench.echo">>, <<"t">>, [], #{})),
    ?assertMatch(#{<<"status">> := <<"FAILURE">>}, Doc),
    #{<<"result">> := #{<<"exc_message">> := [Message]}} = Doc,
    ?assertEqual(<<"bad_request: bench.echo takes one string argument">>, Message),
    ?assertMatch(#{<<"result">> := #{<<"exc_type">> := <<"ValueError">>,
                                     <<"exc_module">> := <<"builtins">>}}, Doc),
    %% a body that is not JSON: still a FAILURE under the envelope's id
    Bad = envelope(#{<<"task">> => <<"bench.echo">>, <<"id">> => <<"t2">>}, <<"[[\"\\ud800\"], {}, {}]">>),
    #{<<"task_id">> := <<"t2">>, <<"result">> := #{<<"exc_message">> := [<<"bad_request: ", _/binary>>]}} = doc(Bad).

limits_and_hooks_test() ->
    bench_vectors:init_ops(true),
    ok = bench_ops:init_settings(#{max_body_bytes => 10, max_tokens => 4}),
    Check = fun(Code, Message) ->
                    #{<<"status">> := <<"FAILURE">>,
                      <<"result">> := #{<<"exc_type">> := <<"ValueError">>,
                                        <<"exc_message">> := [Text]}} = doc(Message),
                    ?assertMatch(<<Code:(byte_size(Code))/binary, ": ", _/binary>>, Text)
            end,
    %% the size limit counts UTF-8 bytes: 10 bytes pass, 5 x "é" (10 bytes) pass, 11 fail
    ?assertMatch(#{<<"result">> := <<"0123456789">>},
                 doc(task(<<"bench.echo">>, <<"t">>, [<<"0123456789">>], #{}))),
    ?assertMatch(#{<<"status">> := <<"SUCCESS">>},
                 doc(task(<<"bench.echo">>, <<"t">>, [<<"ééééé"/utf8>>], #{}))),
    Check(<<"too_large">>, task(<<"bench.echo">>, <<"t">>, [<<"ééééé!"/utf8>>], #{})),
    Check(<<"too_large">>, task(<<"bench.diff">>, <<"t">>, [[<<"a">>, <<"b">>, <<"c">>],
                                                           [<<"a">>, <<"b">>]], #{})),
    Check(<<"internal">>, task(<<"bench.diff">>, <<"t">>, [[<<"__bench_fault__:internal">>],
                                                          [<<"x">>]], #{})),
    %% and the next task is served
    ?assertMatch(#{<<"result">> := [[<<"equal">>, 0, 1, 0, 1], [<<"insert">>, 1, 1, 1, 2]]},
                 doc(task(<<"bench.diff">>, <<"t">>, [[<<"a">>], [<<"a">>, <<"b">>]], #{}))),
    bench_vectors:init_ops(false).

diff_vectors_test_() ->
    {setup, fun() -> bench_vectors:init_ops(false) end,
     [{binary_to_list(Name),
       fun() ->
               #{<<"status">> := <<"SUCCESS">>, <<"result">> := Result} =
                   doc(task(<<"bench.diff">>, Name, [A, B], #{})),
               ?assertEqual(Opcodes, Result)
       end} || #{<<"name">> := Name, <<"a">> := A, <<"b">> := B, <<"opcodes">> := Opcodes}
                   <- bench_vectors:load("diff")]}.

health_and_group_fields_test() ->
    bench_vectors:init_ops(false),
    Message = envelope(#{<<"task">> => <<"bench.health">>, <<"id">> => <<"h">>,
                         <<"group">> => <<"g">>, <<"parent_id">> => <<"p">>},
                       <<"[[], {}, {}]">>),
    ?assertMatch(#{<<"status">> := <<"SUCCESS">>, <<"group_id">> := <<"g">>,
                   <<"parent_id">> := <<"p">>,
                   <<"result">> := #{<<"service">> := <<"erlang">>, <<"language">> := <<"Erlang">>,
                                     <<"ops">> := [<<"echo">>, <<"diff">>, <<"health">>]}},
                 doc(Message)).

ignore_result_is_only_acknowledged_test() ->
    bench_vectors:init_ops(false),
    Message = envelope(#{<<"task">> => <<"bench.echo">>, <<"id">> => <<"q">>,
                         <<"ignore_result">> => true}, <<"[[\"x\"], {}, {}]">>),
    ?assertEqual({ack, <<"q">>}, bench_celery:handle(Message, ?NOW)).

dead_message_handling_test() ->
    ?assertMatch({dead, <<"the envelope is not JSON", _/binary>>},
                 bench_celery:handle(<<"garbage">>, ?NOW)).

%% ------------------------------------------------- lone surrogates in the envelope itself

repair_surrogates_test_() ->
    R = fun bench_celery_proto:repair_surrogates/1,
    [?_assertEqual(<<"\"['\\ufffd']\"">>, R(<<"\"['\\ud800']\"">>)),
     ?_assertEqual(<<"\"\\ufffd\\ufffd\"">>, R(<<"\"\\udc00\\ud800\"">>)),
     ?_assertEqual(<<"\"\\ud83d\\ude00\"">>, R(<<"\"\\ud83d\\ude00\"">>)),       % a pair stays
     ?_assertEqual(<<"\"\\\\ud800\"">>, R(<<"\"\\\\ud800\"">>)),                 % escaped backslash
     ?_assertEqual(<<"\"\\\\\\ufffd\"">>, R(<<"\"\\\\\\ud800\"">>)),
     ?_assertEqual(<<"\"\\u0041\\n\\\"\"">>, R(<<"\"\\u0041\\n\\\"\"">>)),
     ?_assertEqual(<<"x\\ufffd">>, R(<<"x\\udfff">>)),
     ?_assertEqual(<<"\\ud8">>, R(<<"\\ud8">>)),                                 % truncated
     ?_assertEqual(<<>>, R(<<>>))].

%% What kombu writes for send_task("bench.echo", args=["\ud800"]): the argsrepr header
%% holds the lone surrogate as an escape; the arguments in the body must still be refused.
lone_surrogate_in_argsrepr_test() ->
    bench_vectors:init_ops(false),
    Message = <<"{\"body\": \"", (base64:encode(<<"[[\"\\ud800\"], {}, {}]">>))/binary,
                "\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", "
                "\"headers\": {\"task\": \"bench.echo\", \"id\": \"s-1\", "
                "\"argsrepr\": \"['\\ud800']\"}, "
                "\"properties\": {\"body_encoding\": \"base64\"}}">>,
    ?assertMatch({bad, #{id := <<"s-1">>}, <<"the message body is not valid JSON", _/binary>>},
                 bench_celery_proto:decode(Message)),
    #{<<"status">> := <<"FAILURE">>,
      <<"result">> := #{<<"exc_message">> := [<<"bad_request: ", _/binary>>]}} = doc(Message),
    %% a lone surrogate in the id itself cannot name the client's key: dead
    NoId = binary:replace(Message, <<"\"s-1\"">>, <<"\"s\\udc00\"">>),
    ?assertMatch({dead, _}, bench_celery_proto:decode(NoId)).
