"""A prefork worker shares the machine's cores among its pool processes (config/celery.py): torch, onnxruntime and
FAISS threads per process = cores / processes, unless OMP_NUM_THREADS is set; a single-process pool keeps them all."""
import os

from config.celery import share_the_cores, threads_per_process


def test_each_pool_process_gets_its_share_of_the_cores():
    assert threads_per_process({"concurrency": 2}, cores=2) == 1
    assert threads_per_process({"concurrency": 2}, cores=16) == 8
    assert threads_per_process({"concurrency": 4}, cores=2) == 1
    assert threads_per_process({"concurrency": 1}, cores=8) == 8
    assert threads_per_process({"pool_cls": "solo", "concurrency": 4}, cores=8) is None


def test_the_share_goes_to_omp_num_threads_unless_it_is_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # recorded, so that the test leaves the variable as it found it
    monkeypatch.delenv("OMP_NUM_THREADS")
    share_the_cores(options={"concurrency": os.cpu_count() or 1})
    assert os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    share_the_cores(options={"concurrency": 1})
    assert os.environ["OMP_NUM_THREADS"] == "3"
