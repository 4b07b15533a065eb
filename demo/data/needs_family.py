"""Shopper needs for children, babies and pets (see `schema.need` for the notation)."""
from .schema import need

NEEDS = [
    need("dinosaur_gift_5", [
        "knowledge: gift for a 5 year old who loves dinosaurs",
        "knowledge: birthday present for a kindergartner obsessed with prehistoric reptiles",
    ], wants="dino_figures fossil_dig_kit trex_plush dino_puzzle", age=5),
    need("stem_gift_8", [
        "knowledge: something educational for an 8 year old who likes building things",
        "knowledge: screen free present for a curious third grader",
    ], wants="robot_kit building_bricks marble_run science_kit fossil_dig_kit:2", age=8),
    need("toddler_camping", [
        "multi_intent: stuff for a first camping trip with a toddler",
        "multi_intent: sleeping outdoors with a 2 year old, what gear do we need",
    ], wants="kids_sleeping_bag hiking_carrier headlamp:2 camping_tent:2 first_aid_kit:2", age=2),
    need("newborn", [
        "knowledge: what do I need for a newborn",
        "knowledge: must haves for a baby registry",
        "qa: what should we buy before our first child arrives",
    ], wants="swaddle baby_bottles burp_cloths baby_monitor bodysuits diaper_bag:2 baby_carrier:2", age=0),
    need("babyproofing", [
        "knowledge: how to babyproof a house for a crawling infant",
        "qa: my 9 month old just started crawling, what should I secure",
    ], wants="outlet_covers cabinet_locks baby_gate corner_guards furniture_anchors",
        wrong="baby_monitor baby_carrier"),
    need("teething", [
        "knowledge: 6 month old is teething and cranky",
        "qa: what soothes sore gums when new teeth come in",
    ], wants="teether fresh_food_feeder:2", age=0.5),
    need("toddler_car_ride", [
        "knowledge: keep a 3 year old busy on a long car ride",
        "alternative: screen free alternative to a tablet for a preschooler on a road trip",
    ], wants="doodle_board reusable_stickers backseat_organizer:2", age=3),
    need("rainy_day_kids", [
        "knowledge: things to do indoors on a rainy day with kids",
        "qa: how to keep children entertained at home in bad weather",
    ], wants="craft_kit modeling_dough board_game marble_run dino_puzzle:2 magnetic_tiles:2"),
    need("potty_training", [
        "qa: how do I get my 2 year old out of diapers",
        "knowledge: starting toilet training with a toddler",
    ], wants="potty_chair training_pants step_stool:2", age=2, wrong="diaper_bag"),
    need("family_game_night", [
        "knowledge: screen free evening entertainment for parents and a 10 year old",
        "multi_intent: something the grandparents and kids can all play together after dinner",
    ], wants="board_game card_game", age=10),
    need("teen_gamer", [
        "knowledge: gift for a 14 year old who plays video games all day",
        "knowledge: upgrade a teenager's bedroom computer setup",
    ], wants="gaming_headset mechanical_keyboard led_strip anc_headphones:2", wrong="board_game card_game"),
    need("energetic_preschooler", [
        "knowledge: active outdoor toys for a 4 year old with endless energy",
        "qa: what gets a preschooler moving outside after daycare",
    ], wants="balance_bike kick_scooter sand_toys:2", age=4),
    need("cat_off_counter", [
        "knowledge: something to keep my cat off the kitchen counter",
        "qa: how do I stop my kitten jumping on the dining table",
    ], wants="deterrent_spray anti_scratch_tape motion_deterrent cat_tree:2", wrong="litter_box"),
    need("cat_scratching_sofa", [
        "knowledge: my cat is shredding the couch",
        "qa: how to stop a kitten clawing up the armchair",
    ], wants="scratching_post cat_tree anti_scratch_tape deterrent_spray:2 furniture_protector:2",
        wrong="litter_box"),
    need("new_puppy", [
        "knowledge: bringing home a new puppy checklist",
        "knowledge: first week essentials for an 8 week old labrador",
    ], wants="dog_crate puppy_pads chew_toys dog_harness dog_leash:2 baby_gate:2"),
    need("dog_fireworks", [
        "knowledge: my dog panics during fireworks and thunderstorms",
        "qa: how can I calm a nervous rescue pup",
    ], wants="anxiety_vest calming_bed lick_mat white_noise_machine:2", wrong="dog_leash"),
    need("dog_shedding", [
        "knowledge: dog hair all over the furniture and my clothes",
        "qa: how to deal with a husky blowing its coat",
    ], wants="deshedding_brush lint_roller furniture_protector car_vacuum:2", wrong="dog_bed"),
    need("senior_dog", [
        "knowledge: older dog with stiff hips struggles to jump into the car",
        "qa: how to make life easier for an arthritic senior dog",
    ], wants="dog_ramp dog_bed calming_bed:2", wrong="chew_toys"),
    need("pet_flight", [
        "knowledge: flying with my cat in the cabin",
        "qa: what do I need to take a small dog on a plane",
    ], wants="pet_carrier collapsible_bowl:2"),
    need("first_fish", [
        "knowledge: setting up a first home for goldfish",
        "qa: what does a beginner need to keep tropical fish",
    ], wants="aquarium_kit water_conditioner aquarium_heater:2"),
]
