"""The scenario library: YAML files, installed as the package data of ``gpu_alvh.library``."""
