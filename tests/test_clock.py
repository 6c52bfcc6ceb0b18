"""The run's clock (cnnlab/train/clock.py): jobs timed apart from compiling, the warm-up
chunk out of the throughput, and earlier processes' time carried over — on a fake clock,
so that the arithmetic is exact."""

from cnnlab.train import clock as clock_module
from cnnlab.train.clock import Clock
from cnnlab.train.record import Timing


def test_a_clock_adds_this_process_to_the_earlier_ones(monkeypatch):
  now = [100.0]
  monkeypatch.setattr(clock_module.time, "time", lambda: now[0])
  earlier = Timing(wall_s=50.0, eval_s=4.0, checkpoint_s=1.0, compile_s=7.0, images=800,
                   images_s=2.0)
  clock = Clock(earlier, start=100.0)
  now[0] = 103.0
  clock.set_up(data_s=1.0)                 # 3 s since the start, 1 of them loading data
  compiled = [0.0]

  def evaluate():
    now[0] += 5.0
    compiled[0] += 2.0                     # 2 of the 5 s compile the evaluation
  with clock("eval", minus=lambda: compiled[0]):
    evaluate()
  timing = earlier                         # the record's timing, updated in place
  clock.trained(timing, images=100, seconds=4.0)   # warm-up: time, not throughput
  clock.trained(timing, images=300, seconds=3.0)
  with clock("checkpoint"):
    now[0] += 0.5
  clock.stamp(timing, compile_s=2.0, data_s=1.0)
  assert (timing.wall_s, timing.setup_s, timing.eval_s, timing.checkpoint_s) == \
      (50.0 + 8.5, 2.0, 4.0 + 3.0, 1.5)
  assert (timing.compile_s, timing.data_s, timing.train_s) == (9.0, 1.0, 7.0)
  assert (timing.images, timing.images_s) == (1100, 5.0)
