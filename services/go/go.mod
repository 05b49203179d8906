module interopbench/go

go 1.26
