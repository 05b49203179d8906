%% @doc The bench application: reads its settings, then starts the supervision tree for
%% the one transport this node serves.
-module(bench_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    ok = bench_ops:init_settings(#{max_body_bytes => env(max_body_bytes),
                                   max_tokens => env(max_tokens)}),
    bench_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

env(Key) ->
    {ok, Value} = application:get_env(bench, Key),
    Value.
