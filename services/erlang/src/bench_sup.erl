%% @doc The top supervisor: the children of the configured transport, as map child specs.
-module(bench_sup).
-behaviour(supervisor).

-export([start_link/0, init/1, child_specs/2, intensity/2]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Env = maps:from_list(application:get_all_env(bench)),
    Transport = maps:get(transport, Env),
    Flags = #{strategy => one_for_one, intensity => intensity(Transport, Env), period => 10},
    {ok, {Flags, child_specs(Transport, Env)}}.

%% @doc Restarts allowed within 10 s before the supervisor (and the node) gives up. A queue
%% worker is restarted once per lost connection and then waits for redis itself (with
%% backoff), so a broker outage costs one restart per worker: 5 outages in 10 s are
%% tolerated; more is a crash loop worth stopping for.
-spec intensity(http | zmq | redis | celery, map()) -> pos_integer().
intensity(Transport, #{redis_workers := N}) when Transport =:= redis; Transport =:= celery ->
    max(10, 5 * N);
intensity(_Transport, _Env) ->
    10.

%% @doc The children serving one transport.
-spec child_specs(http | zmq | grpc | redis | celery, map()) -> [supervisor:child_spec()].
child_specs(http, #{host := Host, port := Port, http_acceptors := N}) ->
    [#{id => bench_http,
       start => {bench_http, start_link, [#{host => ip(Host), port => Port, acceptors => N}]},
       type => worker}];
child_specs(zmq, #{host := Host, port := Port, zmq_acceptors := N}) ->
    [#{id => bench_zmq,
       start => {bench_zmq, start_link, [#{host => ip(Host), port => Port, acceptors => N}]},
       type => worker}];
child_specs(grpc, #{host := Host, port := Port, grpc_acceptors := N}) ->
    [#{id => bench_grpc,
       start => {bench_grpc, start_link, [#{host => ip(Host), port => Port, acceptors => N}]},
       type => worker}];
child_specs(redis, #{redis_url := Url, queue := Queue, redis_workers := N}) ->
    Opts = #{redis_url => Url, queue => Queue},
    %% Recovery first and once: the supervisor starts children in order, and this one
    %% does its work inside its start function and returns `ignore'.
    [#{id => bench_redis_recovery,
       start => {bench_redis, recover, [Opts]},
       restart => temporary}
     | [#{id => {bench_redis_worker, I},
          start => {bench_redis, start_worker, [Opts, I]},
          type => worker}
        || I <- lists:seq(1, N)]];

child_specs(celery, #{redis_url := Url, queue := Queue, redis_workers := N,
                      result_expires := Expires}) ->
    Opts = #{redis_url => Url, queue => Queue, result_expires => Expires, label => "celery"},
    %% As for redis: recovery of `<queue>:processing' first and once, then the consumers.
    [#{id => bench_celery_recovery,
       start => {bench_redis, recover, [Opts]},
       restart => temporary}
     | [#{id => {bench_celery_consumer, I},
          start => {bench_celery, start_consumer, [Opts, I]},
          type => worker}
        || I <- lists:seq(1, N)]].

ip(Host) ->
    {ok, Ip} = inet:getaddr(Host, inet),
    Ip.
