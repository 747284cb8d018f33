{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'funktionsnedsattning'. -#}
{{ chosen_codes_bridge('funktionsnedsattning', 'funktionsnedsattning_kod') }}
