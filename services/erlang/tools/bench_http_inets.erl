%% @doc The OTP inets httpd candidate for the http transport, only as far as the CPU
%% comparison needs it (POST /echo, GET /health): see tools/http_cpu.sh and README.md.
%% Not part of the service; compiled by tools/http_cpu.sh into tools/ebin.
-module(bench_http_inets).

-include_lib("inets/include/httpd.hrl").

-export([start/1, do/1]).

-spec start(inet:port_number()) -> {ok, pid()}.
start(Port) ->
    ok = inets:start(),
    inets:start(httpd, [{port, Port}, {bind_address, {127, 0, 0, 1}},
                        {server_name, "bench"}, {server_root, "/tmp"},
                        {document_root, "/tmp"}, {modules, [?MODULE]},
                        {keep_alive, true}, {max_keep_alive_request, 100000000},
                        {keep_alive_timeout, 60}, {max_body_size, 16777216},
                        {max_clients, 1000}, {minimum_bytes_per_second, false}]).

-spec do(#mod{}) -> {proceed, list()}.
do(#mod{method = "POST", request_uri = "/echo", entity_body = Body}) ->
    Bin = iolist_to_binary(Body),
    {proceed, [{response, {response, [{code, 200},
                                      {content_type, "application/octet-stream"},
                                      {content_length, integer_to_list(byte_size(Bin))}],
                           Bin}}]};
do(#mod{method = "GET", request_uri = "/health"}) ->
    Body = <<"{\"service\":\"erlang-inets\"}">>,
    {proceed, [{response, {response, [{code, 200}, {content_type, "application/json"},
                                      {content_length, integer_to_list(byte_size(Body))}],
                           Body}}]};
do(_) ->
    {proceed, [{response, {404, "not found"}}]}.
