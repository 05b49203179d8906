-- wrk script: POST a 64 KiB body (65 536 bytes) to the path given on the command line (/echo).
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
