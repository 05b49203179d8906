-- wrk script: POST /echo with a 65 536-byte body.
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
