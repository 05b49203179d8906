%% @doc A TCP listener with a pool of acceptors, shared by the transports that run their
%% own connection loop (zmq, grpc). Each accepted socket goes to a fresh process running
%% `Module:connection(Sock)', not linked to the acceptors or the listener: a crash while
%% serving one peer closes that peer only. The connection process receives `{go, Sock}'
%% once it owns the socket.
-module(bench_listener).
-behaviour(gen_server).

-export([start_link/1, port/1, acceptor/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type opts() :: #{name := atom(), module := module(), host := inet:ip_address(),
                  port := inet:port_number(), acceptors := pos_integer()}.
-type state() :: #{listen := gen_tcp:socket(), acceptors := [pid()], module := module(),
                   name := atom()}.

%% @doc Starts the listener (registered as `name') and its acceptors.
-spec start_link(opts()) -> {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) ->
    gen_server:start_link({local, Name}, ?MODULE, Opts, []).

-spec init(opts()) -> {ok, state()} | {stop, term()}.
init(#{host := Host, port := Port, acceptors := N, module := Module, name := Name}) ->
    process_flag(trap_exit, true),
    %% {buffer, _}: the most one read hands over (inherited by accepted sockets). The default,
    %% 1460 bytes, took 45 reads (port calls) for one 64 KiB message.
    case gen_tcp:listen(Port, [binary, {ip, Host}, {active, false}, {reuseaddr, true},
                               {nodelay, true}, {backlog, 1024}, {buffer, 65536}]) of
        {ok, Listen} ->
            State = #{listen => Listen, acceptors => [], module => Module, name => Name},
            {ok, State#{acceptors := [spawn_acceptor(State) || _ <- lists:seq(1, N)]}};
        {error, Reason} ->
            {stop, {listen, Port, Reason}}
    end.

spawn_acceptor(#{listen := Listen, module := Module}) ->
    proc_lib:spawn_link(?MODULE, acceptor, [Listen, self(), Module]).

%% @doc The port the listener `Name' is bound to (when started with port 0).
-spec port(atom()) -> inet:port_number().
port(Name) ->
    gen_server:call(Name, port).

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, inet:port_number() | {error, unknown_call}, state()}.
handle_call(port, _From, #{listen := Listen} = State) ->
    {ok, Port} = inet:port(Listen),
    {reply, Port, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({'EXIT', Pid, Reason}, #{acceptors := Acceptors, name := Name} = State) ->
    case lists:member(Pid, Acceptors) of
        true ->
            %% An acceptor died (e.g. out of file descriptors): log it, start another.
            logger:warning("~s acceptor ~p exited: ~0p", [Name, Pid, Reason]),
            timer:sleep(10),
            {noreply, State#{acceptors := [spawn_acceptor(State) | Acceptors -- [Pid]]}};
        false ->
            {noreply, State}
    end;
handle_info(_Msg, State) ->
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #{listen := Listen}) ->
    gen_tcp:close(Listen),
    ok.

%% @doc An acceptor: hands each accepted socket to a fresh, unlinked connection process.
-spec acceptor(gen_tcp:socket(), pid(), module()) -> no_return().
acceptor(Listen, Listener, Module) ->
    case gen_tcp:accept(Listen) of
        {ok, Sock} ->
            Pid = proc_lib:spawn(Module, connection, [Sock]),
            case gen_tcp:controlling_process(Sock, Pid) of
                ok -> Pid ! {go, Sock};
                %% The peer already went away: nothing to serve.
                {error, _} -> gen_tcp:close(Sock), exit(Pid, kill)
            end,
            acceptor(Listen, Listener, Module);
        {error, closed} ->
            exit(normal);
        {error, Reason} ->
            exit({accept, Reason})
    end.
