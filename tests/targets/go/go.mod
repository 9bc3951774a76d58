module strand/targets/go

go 1.19
