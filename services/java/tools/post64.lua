-- wrk script: POST a 64-byte body to the path given on the command line (e.g. /echo).
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 4)
wrk.headers["Content-Type"] = "application/octet-stream"
