module micro.bench/lostreq

go 1.24
