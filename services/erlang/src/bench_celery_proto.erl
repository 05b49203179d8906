%% @doc Celery's task message protocol v2 as kombu's Redis transport writes it, and the
%% result documents Celery's Redis result backend reads. Pure: no I/O, no atoms made from
%% the network (task ids and names stay binaries).
%%
%% A message on the queue list is a JSON envelope:
%% `{"body": base64([args, kwargs, embed]), "content-encoding": "utf-8",
%%   "content-type": "application/json", "headers": {"task": name, "id": id, ...},
%%   "properties": {"body_encoding": "base64", "delivery_tag": ..., ...}}'.
%% A result is the JSON object stored at `celery-task-meta-<id>' and published on the
%% channel of the same name: `{"status", "result", "traceback", "children", "date_done",
%% ["group_id",] ["parent_id",] "task_id"}', in the order and with the separators
%% Python's `json.dumps' writes them.
-module(bench_celery_proto).

-export([decode/1, call/3, success/3, failure/4, not_registered/2, date_done/1,
         result_key/1, repair_surrogates/1]).

-export_type([meta/0, call/0]).

-type meta() :: #{id := binary(),
                  task := binary() | undefined,
                  ignore_result := boolean(),
                  group := binary() | undefined,
                  parent_id := binary() | undefined,
                  %% the arguments' JSON has no backslash: none of their strings needs an
                  %% escape (bench_json:encode_string/2)
                  plain := boolean()}.
-type call() :: {echo, binary()} | {diff, [binary()], [binary()]} | health.

%% @doc Decodes an envelope. `{ok, ...}': a task with its arguments; `{bad, Meta, Why}':
%% the envelope names a task id but the rest cannot be used (its result is a FAILURE);
%% `{dead, Why}': not even a task id (the message goes to the dead list).
-spec decode(binary()) -> {ok, meta(), list(), map()} | {bad, meta(), binary()}
                        | {dead, binary()}.
decode(Message) ->
    case envelope(Message) of
        {ok, #{<<"headers">> := #{<<"id">> := Id} = Headers} = Envelope}
          when is_binary(Id), Id =/= <<>> ->
            Meta = meta(Id, Headers),
            case Meta of
                #{task := undefined} -> {bad, Meta, <<"the message has no task name">>};
                _ ->
                    case body(Envelope) of
                        {ok, Args, Kwargs, Plain} -> {ok, Meta#{plain := Plain}, Args, Kwargs};
                        {error, Why} -> {bad, Meta, Why}
                    end
            end;
        {ok, _} ->
            {dead, <<"no task id in the envelope's headers (not a protocol v2 task message)">>};
        {error, Why} ->
            {dead, <<"the envelope is not JSON: ", Why/binary>>}
    end.

%% kombu writes the envelope with Python's json, which lets a lone surrogate through as an
%% escape: `send_task("bench.echo", args=["\ud800"])' puts `"argsrepr": "['\ud800']"' in the
%% headers. jiffy rejects that, so when the envelope fails on a string that contains a
%% `\u' escape, lone surrogate escapes are replaced by U+FFFD and the envelope is decoded
%% again. Only the envelope's own strings are touched (headers such as argsrepr); the
%% arguments are in the base64 body and are still checked strictly. An id that needed the
%% repair would no longer name the client's result key: such a message is dead.
envelope(Message) ->
    case json(Message) of
        {error, Why} ->
            case binary:match(Message, <<"\\u">>) of
                nomatch ->
                    {error, Why};
                _ ->
                    case json(repair_surrogates(Message)) of
                        {ok, #{<<"headers">> := #{<<"id">> := Id}} = Doc} when is_binary(Id) ->
                            case binary:match(Id, <<16#FFFD/utf8>>) of
                                nomatch -> {ok, Doc};
                                _ -> {error, <<"the task id holds a lone surrogate">>}
                            end;
                        {ok, Doc} -> {ok, Doc};
                        {error, _} -> {error, Why}
                    end
            end;
        Ok ->
            Ok
    end.

%% @doc Replaces every `\uD800'..`\uDFFF' escape that is not part of a high-low pair by
%% `\uFFFD'. Escaped backslashes (`\\') are skipped, so `\\ud800' (a backslash and the
%% text "ud800") is left alone. Bytes outside escapes are not looked at.
-spec repair_surrogates(binary()) -> binary().
repair_surrogates(Bin) ->
    iolist_to_binary(repair(Bin, 0, 0, [])).

repair(Bin, Start, Pos, Acc) ->
    case binary:match(Bin, <<"\\">>, [{scope, {Pos, byte_size(Bin) - Pos}}]) of
        nomatch ->
            lists:reverse(Acc, [binary:part(Bin, Start, byte_size(Bin) - Start)]);
        {P, 1} ->
            case surrogate_at(Bin, P) of
                {high, _} ->
                    case surrogate_at(Bin, P + 6) of
                        {low, _} -> repair(Bin, Start, P + 12, Acc);
                        _ -> replace(Bin, Start, P, Acc)
                    end;
                {low, _} ->
                    replace(Bin, Start, P, Acc);
                none ->
                    repair(Bin, Start, P + 2, Acc)    % `\\', `\"', `\n', `\u0041', ...
            end
    end.

replace(Bin, Start, P, Acc) ->
    repair(Bin, P + 6, P + 6, [<<"\\ufffd">>, binary:part(Bin, Start, P - Start) | Acc]).

surrogate_at(Bin, P) ->
    case Bin of
        <<_:P/binary, $\\, $u, H1, H2, H3, H4, _/binary>> ->
            try list_to_integer([H1, H2, H3, H4], 16) of
                N when N >= 16#D800, N =< 16#DBFF -> {high, N};
                N when N >= 16#DC00, N =< 16#DFFF -> {low, N};
                _ -> none
            catch
                error:badarg -> none
            end;
        _ ->
            none
    end.

meta(Id, Headers) ->
    #{id => Id,
      task => binary_or_undefined(maps:get(<<"task">>, Headers, undefined)),
      ignore_result => maps:get(<<"ignore_result">>, Headers, false) =:= true,
      group => binary_or_undefined(maps:get(<<"group">>, Headers, undefined)),
      parent_id => binary_or_undefined(maps:get(<<"parent_id">>, Headers, undefined)),
      plain => false}.

binary_or_undefined(B) when is_binary(B), B =/= <<>> -> B;
binary_or_undefined(_) -> undefined.

body(#{<<"body">> := Body} = Envelope) when is_binary(Body) ->
    Properties = maps:get(<<"properties">>, Envelope, #{}),
    ContentType = maps:get(<<"content-type">>, Envelope, undefined),
    Encoding = maps:get(<<"content-encoding">>, Envelope, <<"utf-8">>),
    BodyEncoding = case Properties of
                       #{<<"body_encoding">> := E} -> E;
                       _ -> undefined
                   end,
    if
        ContentType =/= <<"application/json">> ->
            {error, iolist_to_binary(["content type ", describe(ContentType),
                                      " is not accepted (JSON only)"])};
        Encoding =/= <<"utf-8">> ->
            {error, iolist_to_binary(["content encoding ", describe(Encoding),
                                      " is not accepted (utf-8 only)"])};
        BodyEncoding =/= <<"base64">> ->
            {error, iolist_to_binary(["body encoding ", describe(BodyEncoding),
                                      " is not supported (base64 only)"])};
        true ->
            args(Body)
    end;
body(_) ->
    {error, <<"the envelope has no string \"body\"">>}.

args(Base64) ->
    try bench_base64:decode(Base64) of
        Raw ->
            case json(Raw) of
                {ok, [Args, Kwargs, _Embed]} when is_list(Args), is_map(Kwargs) ->
                    {ok, Args, Kwargs, binary:match(Raw, <<"\\">>) =:= nomatch};
                {ok, _} ->
                    {error, <<"the message body is not [args, kwargs, embed]">>};
                {error, Why} ->
                    {error, <<"the message body is not valid JSON: ", Why/binary>>}
            end
    catch
        error:_ -> {error, <<"the message body is not valid base64">>}
    end.

%% jiffy rejects invalid UTF-8 and escapes that leave a lone surrogate (bench_json_tests).
json(Bin) ->
    try jiffy:decode(Bin, [return_maps]) of
        Doc -> {ok, Doc}
    catch
        error:{Pos, Why} when is_integer(Pos) ->
            {error, iolist_to_binary(io_lib:format("at byte ~b: ~0p", [Pos, Why]))};
        error:Other ->
            {error, iolist_to_binary(io_lib:format("~0p", [Other]))}
    end.

describe(B) when is_binary(B) -> [$", printable(B), $"];
describe(_) -> "(none)".

printable(B) ->
    Short = binary:part(B, 0, min(byte_size(B), 64)),
    << <<(if C >= 32, C < 127, C =/= $" -> C; true -> $? end)>> || <<C>> <= Short >>.

%% @doc Which operation a task name and its arguments ask for, with the argument checks
%% the Python worker makes: `bench.echo(text)', `bench.diff(a, b)' (positional, or the
%% keywords `a' and `b'), `bench.health()'. Any other name is not registered.
-spec call(binary(), list(), map()) -> {ok, call()} | {bad_request, binary()}
                                     | not_registered.
call(<<"bench.echo">>, [Text], Kwargs) when is_binary(Text), map_size(Kwargs) =:= 0 ->
    {ok, {echo, Text}};
call(<<"bench.echo">>, _Args, _Kwargs) ->
    {bad_request, <<"bench.echo takes one string argument">>};
call(<<"bench.diff">>, [A, B], Kwargs) when map_size(Kwargs) =:= 0 ->
    tokens(A, B);
call(<<"bench.diff">>, [], #{<<"a">> := A, <<"b">> := B} = Kwargs) when map_size(Kwargs) =:= 2 ->
    tokens(A, B);
call(<<"bench.diff">>, _Args, _Kwargs) ->
    {bad_request, <<"bench.diff takes two arguments a and b (arrays of strings)">>};
call(<<"bench.health">>, [], Kwargs) when map_size(Kwargs) =:= 0 ->
    {ok, health};
call(<<"bench.health">>, _Args, _Kwargs) ->
    {bad_request, <<"bench.health takes no arguments">>};
call(_Name, _Args, _Kwargs) ->
    not_registered.

tokens(A, B) ->
    case {strings(A), strings(B)} of
        {true, true} -> {ok, {diff, A, B}};
        {false, _} -> {bad_request, <<"'a' must be an array of strings">>};
        {_, false} -> {bad_request, <<"'b' must be an array of strings">>}
    end.

strings(List) when is_list(List) -> lists:all(fun is_binary/1, List);
strings(_) -> false.

%% @doc The SUCCESS document; `Result' is the result already encoded as JSON.
-spec success(meta(), iodata(), binary()) -> iodata().
success(Meta, Result, DateDone) ->
    document(Meta, <<"SUCCESS">>, Result, DateDone).

%% @doc The FAILURE document of a contract error: `ValueError("<code>: <message>")'.
-spec failure(meta(), atom(), binary(), binary()) -> iodata().
failure(Meta, Code, Message, DateDone) ->
    exception(Meta, <<"ValueError">>, <<"builtins">>,
              iolist_to_binary([atom_to_binary(Code), <<": ">>, Message]), DateDone).

%% @doc The FAILURE document of an unknown task, as Celery's worker writes it:
%% `NotRegistered' from `celery.exceptions' with the task name as its one argument.
-spec not_registered(meta(), binary()) -> iodata().
not_registered(#{task := Name} = Meta, DateDone) ->
    exception(Meta, <<"NotRegistered">>, <<"celery.exceptions">>, Name, DateDone).

exception(Meta, Type, Module, Message, DateDone) ->
    Result = [<<"{\"exc_type\": ">>, jiffy:encode(Type),
              <<", \"exc_message\": [">>, jiffy:encode(Message),
              <<"], \"exc_module\": ">>, jiffy:encode(Module), $}],
    document(Meta, <<"FAILURE">>, Result, DateDone).

document(#{id := Id} = Meta, Status, Result, DateDone) ->
    [<<"{\"status\": \"">>, Status, <<"\", \"result\": ">>, Result,
     <<", \"traceback\": null, \"children\": [], \"date_done\": \"">>, DateDone, $",
     optional(<<"group_id">>, maps:get(group, Meta, undefined)),
     optional(<<"parent_id">>, maps:get(parent_id, Meta, undefined)),
     <<", \"task_id\": ">>, jiffy:encode(Id), $}].

optional(_Key, undefined) -> [];
optional(Key, Value) -> [<<", \"">>, Key, <<"\": ">>, jiffy:encode(Value)].

%% @doc `date_done' as Celery writes it (`datetime.isoformat()' of an aware UTC time):
%% `2026-01-02T03:04:05.123456+00:00'.
-spec date_done(integer()) -> binary().
date_done(SystemTimeUs) ->
    list_to_binary(calendar:system_time_to_rfc3339(SystemTimeUs, [{unit, microsecond},
                                                                  {offset, "+00:00"}])).

%% @doc The result key (and PUBLISH channel) of a task id.
-spec result_key(binary()) -> binary().
result_key(Id) ->
    <<"celery-task-meta-", Id/binary>>.
