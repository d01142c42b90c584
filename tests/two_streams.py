"""A task whose one phase reads two data streams of different lengths and runs hooks after its
updates, for the stream, hook and kill/resume tests (the adding problem, a 2-layer LSTM):

- `model`: every weight, by Adam, on the default stream (the training split); after each
  update a moving average of the weights (`average`, a checkpointed module) takes a step.
- `critic`: the output layer only, by RMSprop (an optimizer of its own), twice per step on
  the stream `real` (the first `REAL_BATCHES` batches of another shuffle of the split), against
  negatives the model samples inside the step (its prediction plus Gaussian noise, seeded by
  the step and the replica); its weights are clipped to [-CLIP, CLIP] after each update, as a
  WGAN critic's are.
- `rollout`: the output layer, by the recipe's optimizer, on no data at all: its sums draw
  their own inputs (seeded by the step and the replica).

Run as `python -m tests.two_streams train RECIPE ...`: it registers the task as
`adding_two_streams`, then runs the `zoo` command line; tests in-process pass
`task=TwoStreamAddingTask(config)` to the trainer instead, leaving the registry alone.
"""
import sys

from zoo.models.recurrent.task import AddingTask
from zoo.training.hooks import MovingAverage, clip_weights
from zoo.training.task import Phase, Update

REAL_BATCHES = 6
CLIP = 0.005
DECAY = 0.9
ROLLOUT_BATCH = 4   # inputs a replica draws per rollout update


def _seed(step, salt):
    """A stateless seed per step, replica and use: identical on a rerun of the step."""
    import tensorflow as tf

    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return tf.stack([tf.cast(step, tf.int32) * 8 + salt, tf.cast(replica, tf.int32)])


class TwoStreamAddingTask(AddingTask):
    name, family = "adding_two_streams", "recurrent"

    def train_dataset(self, model, pass_index, stream="train"):
        if stream == "train":
            return super().train_dataset(model, pass_index)
        if stream == "real":
            return super().train_dataset(model, 1000 + pass_index).take(REAL_BATCHES)
        raise ValueError(f"no data stream {stream!r}")

    def critic_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        sums = self.batch_sums(model, batch, step=step, training=training)
        x, _ = batch
        pred = tf.cast(model(x, training=training)[:, 0], tf.float32)
        negatives = tf.stop_gradient(pred) + 0.1 * tf.random.stateless_normal(tf.shape(pred), _seed(step, 1))
        return {**sums, "loss_sum": sums["loss_sum"] + tf.reduce_sum(tf.square(pred - negatives))}

    def rollout_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        assert batch is None, "the rollout update reads no stream"
        x = tf.random.stateless_uniform((ROLLOUT_BATCH, self.options.length, 2), _seed(step, 2))
        pred = tf.cast(model(x, training=training)[:, 0], tf.float32)
        return {"loss_sum": 0.01 * tf.reduce_sum(tf.square(pred)), "count": tf.constant(float(ROLLOUT_BATCH))}

    def phases(self, model):
        recurrent = [id(v) for k in range(model.num_layers) for v in model.layer_variables(k)]
        output = [v for v in model.trainable_variables if id(v) not in recurrent]
        self.average = MovingAverage(model.trainable_variables, DECAY)
        return [Phase("train", (
            Update("model", self.batch_sums, lambda: model.trainable_variables,
                   modules={"average": self.average}, after=self.average.update),
            Update("critic", self.critic_sums, lambda: output, stream="real", repeat=2,
                   optimizer={"optimizer": "rmsprop", "optimizer_args": {"rho": 0.8}, "learning_rate": 0.01},
                   after=clip_weights(lambda: output, CLIP)),
            Update("rollout", self.rollout_sums, lambda: output, stream=None)))]


if __name__ == "__main__":
    from zoo.registry import register_task
    from zoo_env import main

    register_task("adding_two_streams", family="recurrent", smoke_recipe="recurrent/smoke_adding")(
        TwoStreamAddingTask)
    sys.exit(main(sys.argv[1:]))
