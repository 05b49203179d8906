-module(bench_caller_load_tests).
-include_lib("eunit/include/eunit.hrl").

-define(S, 1000000000).

cfg(Phases, Arrival, Seed) ->
    #{<<"name">> => <<"c">>, <<"timeout_s">> => 1.0,
      <<"plan">> => #{<<"phases">> => Phases, <<"open_loop">> => true, <<"arrival">> => Arrival,
                      <<"seed">> => Seed}}.

phase(Name, D, Rate) ->
    #{<<"name">> => Name, <<"duration_s">> => D, <<"rate">> => Rate, <<"measured">> => true}.

%% Constant arrivals: 1/rate apart from each phase's start, never crossing its end.
constant_slots_test() ->
    Cfg = cfg([phase(<<"a">>, 1.0, 4.0), phase(<<"b">>, 0.5, 10.0)], <<"constant">>, 1),
    Slots = bench_caller_load:slots(Cfg, 0, false, 100),
    ?assertEqual([{250000000, 1}, {500000000, 1}, {750000000, 1}] ++
                     [{?S + K * 100000000, 2} || K <- [1, 2, 3, 4]], Slots).

%% A phase without a rate (closed) hands out no slots; the next phase starts at its own start.
rateless_phase_skipped_test() ->
    Cfg = cfg([phase(<<"w">>, 1.0, nil), phase(<<"m">>, 1.0, 2.0)], <<"constant">>, 1),
    ?assertEqual([{1500000000, 2}], bench_caller_load:slots(Cfg, 0, false, 10)).

%% Poisson: seeded (the same seed, the same slots), in order, inside the phase, about
%% rate x duration of them, mean gap about 1/rate.
poisson_slots_test() ->
    Cfg = cfg([phase(<<"m">>, 10.0, 1000.0)], <<"poisson">>, 42),
    Slots = bench_caller_load:slots(Cfg, 0, true, 100000),
    ?assertEqual(Slots, bench_caller_load:slots(Cfg, 0, true, 100000)),
    ?assertNotEqual(Slots, bench_caller_load:slots(cfg([phase(<<"m">>, 10.0, 1000.0)], <<"poisson">>, 43),
                                                   0, true, 100000)),
    Dues = [D || {D, _} <- Slots],
    ?assertEqual(Dues, lists:sort(Dues)),
    ?assert(lists:last(Dues) < 10 * ?S),
    N = length(Slots),
    ?assert(N > 9700 andalso N < 10300),
    Gaps = lists:zipwith(fun(A, B) -> B - A end, lists:droplast(Dues), tl(Dues)),
    Mean = lists:sum(Gaps) / length(Gaps),
    ?assert(abs(Mean - 1.0e6) < 0.05e6),
    %% exponential: about 1/e of the gaps exceed the mean
    Over = length([G || G <- Gaps, G > 1.0e6]) / length(Gaps),
    ?assert(abs(Over - 0.3679) < 0.03).

phase_of_test() ->
    Cfg = (cfg([phase(<<"a">>, 1.0, nil), phase(<<"b">>, 2.0, nil)], <<"constant">>, 1)),
    Ctx = bench_caller_load:new(Cfg#{<<"plan">> => (maps:get(<<"plan">>, Cfg))#{<<"open_loop">> => false}},
                                100, self()),
    ?assertEqual(none, bench_caller_load:phase_of(Ctx, 99)),
    ?assertEqual(1, bench_caller_load:phase_of(Ctx, 100)),
    ?assertEqual(2, bench_caller_load:phase_of(Ctx, 100 + ?S)),
    ?assertEqual(2, bench_caller_load:phase_of(Ctx, 99 + 3 * ?S)),
    ?assertEqual(none, bench_caller_load:phase_of(Ctx, 100 + 3 * ?S)).

%% An endless phase (the web UI's plan) holds every later time.
endless_phase_test() ->
    Cfg = cfg([phase(<<"all">>, infinity, nil)], <<"constant">>, 1),
    Ctx = bench_caller_load:new(Cfg#{<<"plan">> => (maps:get(<<"plan">>, Cfg))#{<<"open_loop">> => false}},
                                0, self()),
    ?assertEqual(1, bench_caller_load:phase_of(Ctx, 1 bsl 62)),
    [#{<<"duration_s">> := nil, <<"cells">> := Cells}] = bench_caller_load:results({Ctx, #{}}),
    ?assertEqual(#{}, Cells).

%% The schedule process counts issued and dropped slots; results report them per phase.
issued_and_dropped_test() ->
    Cfg = cfg([phase(<<"m">>, 1.0, 100.0)], <<"constant">>, 1),
    Ctx = bench_caller_load:new(Cfg#{<<"request">> => #{}}, 0, self()),
    {10000000, 1} = bench_caller_load:next_slot(Ctx),
    {20000000, 1} = bench_caller_load:next_slot(Ctx),
    ok = bench_caller_load:count_dropped(Ctx, 55000000),          % slots at 30, 40, 50 ms
    [P] = bench_caller_load:results({Ctx, #{}}),
    ?assertMatch(#{<<"issued">> := 2, <<"dropped">> := 3, <<"queued">> := 0, <<"rate">> := 100.0,
                   <<"duration_s">> := 1.0, <<"cells">> := #{}}, P).
