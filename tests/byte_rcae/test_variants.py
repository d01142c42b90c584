"""The family's registered names: the paper's variants and the key earlier manifests used."""
import zoo


def test_registry_lists_the_issue_variants():
    models = zoo.list_models()
    for name in ["byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8", "byte_rcae_n16",
                 "byte_rcae_static_n8", "lstm_autoencoder"]:
        assert name in models
    assert zoo.list_models("byte_rcae_n*") == ["byte_rcae_n16", "byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8"]


def test_manifests_of_earlier_versions_name_the_family_byte_autoencoder():
    assert zoo.family("byte_autoencoder").name == "byte_rcae"
