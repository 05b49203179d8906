-- wrk script: POST /echo with a 64-byte body.
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 4)
wrk.headers["Content-Type"] = "application/octet-stream"
