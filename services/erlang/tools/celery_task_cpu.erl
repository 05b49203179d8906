%% CPU per Celery task inside the worker, without Redis: the parts of bench_celery:commands/3
%% for a kombu-shaped `bench.echo' message of 64 B and 64 KiB of text.
%% usage (from services/erlang, after rebar3 compile):
%%   erlc -o tools/ebin tools/celery_task_cpu.erl
%%   taskset -c 0 erl -noshell +S 1 -pa _build/default/lib/*/ebin -pa tools/ebin \
%%       -eval 'celery_task_cpu:run(), halt().'
%% Prints CPU µs per call (statistics(runtime): the VM's CPU time, all threads).
-module(celery_task_cpu).
-export([run/0]).

run() ->
    bench_ops:init_settings(#{max_body_bytes => 16777216, max_tokens => 100000}),
    [task(Size) || Size <- [64, 65536]],
    ok.

task(Size) ->
    rand:seed(exsss, {1, 2, 3}),
    Text = << <<(rand:uniform(26) + 96)>> || _ <- lists:seq(1, Size) >>,
    Body = iolist_to_binary(jiffy:encode([[Text], #{},
                                          #{<<"callbacks">> => null, <<"errbacks">> => null,
                                            <<"chain">> => null, <<"chord">> => null}])),
    B64 = base64:encode(Body),
    Message = iolist_to_binary(jiffy:encode(
        #{<<"body">> => B64, <<"content-encoding">> => <<"utf-8">>,
          <<"content-type">> => <<"application/json">>,
          <<"headers">> => #{<<"lang">> => <<"py">>, <<"task">> => <<"bench.echo">>,
                             <<"id">> => <<"6b9b6f0e-0a1c-4b7a-9a53-3a0d3f9e1a11">>,
                             <<"argsrepr">> => <<"('...',)">>},
          <<"properties">> => #{<<"body_encoding">> => <<"base64">>,
                                <<"delivery_tag">> => <<"d2b0c8d6">>}})),
    N = case Size of 64 -> 20000; _ -> 500 end,
    io:format("text ~b B, message ~b B, ~b calls each~n", [Size, byte_size(Message), N]),
    time("  jiffy:decode(envelope)", N, fun() -> jiffy:decode(Message, [return_maps]) end),
    time("  base64:decode/1 (OTP)", N, fun() -> base64:decode(B64) end),
    time("  bench_base64:decode/1", N, fun() -> bench_base64:decode(B64) end),
    time("  jiffy:decode(body)", N, fun() -> jiffy:decode(Body, [return_maps]) end),
    time("  jiffy:encode(text)", N, fun() -> jiffy:encode(Text) end),
    time("  bench_json:encode_string/2", N, fun() -> bench_json:encode_string(Text, true) end),
    time("  bench_celery:commands/3 (all)", N,
         fun() -> bench_celery:commands(Message, <<"q:dead">>, <<"600">>) end).

time(Name, N, F) ->
    F(),
    {R0, _} = statistics(runtime),
    loop(N, F),
    {R1, _} = statistics(runtime),
    io:format("~-34s ~8.1f µs CPU~n", [Name, (R1 - R0) * 1000 / N]).

loop(0, _F) -> ok;
loop(N, F) -> F(), loop(N - 1, F).
